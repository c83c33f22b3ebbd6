// SPDX-License-Identifier: GPL-2.0
/*
 * Reproducers of real ZONE_DEVICE bugs (selftests/REPRODUCERS.md lists
 * them by their entry in the project's bug catalogue): each test states
 * the behaviour the bug broke and checks it through what the kernel
 * reports about the pages (HMM_MOCK_PAGE_INFO, HMM_MOCK_CHECK_FREE,
 * /proc/self/pagemap), widening races with HMM_MOCK_INJECT where the bug
 * was one. Fixture mem (hmm_mock_mem.h) runs a test on device-private and
 * on device-coherent memory; the global tests use device-private memory.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

/* Catalogue A2 (and A1): the free list of refcount-zero pages. */
TEST_F(mem, freed_device_pages_are_unreferenced_and_belong_to_nothing)
{
	struct hmm_mock_page_info *info;
	struct hmm_mock_stats st0, st1;
	int round;

	SKIP_IF_SETUP_SKIPPED();
	for (round = 0; round < 20; round++) {
		MAP_FILLED(64, round);

		st0 = hmm_mock_stats(self->fd);
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
		info = PAGE_INFO(self->fd, p, n);
		EXPECT_DEVICE_PAGES(info, n, variant->id, 1);
		EXPECT_TRUE(!!(info[0].flags & HMM_MOCK_PAGE_ANON));
		free(info);
		ASSERT_EQ(0, munmap(p, len));
		st1 = hmm_mock_stats(self->fd);
		EXPECT_EQ(st0.page_frees + n, st1.page_frees);
		EXPECT_FREE_LISTS_CLEAN(self->fd);
		free(self->buf);
		self->buf = NULL;
	}
}

/*
 * Catalogue A1: migrating an untouched range (no page yet) inserts freed
 * device pages, which must join the new anon mapping like any new page.
 */
TEST_F(mem, a_device_page_reused_for_an_untouched_range_joins_its_anon_mapping)
{
	struct hmm_mock_page_info *info;
	unsigned long i;
	char *q;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(32, 5);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, munmap(p, len));

	q = map_small(len);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, q, buf, n, NULL));
	info = PAGE_INFO(self->fd, q, n);
	EXPECT_DEVICE_PAGES(info, n, variant->id, 1);
	for (i = 0; i < n; i++)
		if (!(info[i].flags & HMM_MOCK_PAGE_ANON))
			break;
	EXPECT_EQ(n, i) TH_LOG("page %lu is not anon: flags 0x%x", i, info[i].flags);
	free(info);

	/* Eviction walks the rmap of every page: it must find them all. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, q, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, q, n, HMM_DMIRROR_PROT_WRITE);
	for (i = 0; i < len && !q[i]; i++)
		;
	EXPECT_EQ(len, i);
	EXPECT_FREE_LISTS_CLEAN(self->fd);
}

/* Catalogue B3, B4: device pages counted right through fork and exit. */
TEST_F(mem, device_page_counts_follow_fork_and_exit)
{
	struct hmm_mock_page_info *info;
	int go[2];
	pid_t pid;
	char c;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 23);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_DEVICE_PAGES(info, n, variant->id, 1);
	EXPECT_TRUE(!!(info[0].flags & HMM_MOCK_PAGE_ANON_EXCLUSIVE));
	free(info);

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* Reading would move the pages back for both processes. */
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 ? 0 : 1);
	}
	close(go[0]);
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_DEVICE_PAGES(info, n, variant->id, 2);
	EXPECT_FALSE(!!(info[0].flags & HMM_MOCK_PAGE_ANON_EXCLUSIVE));
	free(info);

	close(go[1]);
	EXPECT_CHILD_OK(pid);
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_DEVICE_PAGES(info, n, variant->id, 1);
	free(info);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 23));
}

/*
 * Catalogue G1: a device-to-system copy that fails (a DMA error) leaves
 * the page where it was, with its data; the next attempt moves it.
 */
TEST_F(mem, migration_back_with_a_failed_copy_leaves_that_page_on_the_device)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *m;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(8, 31);
	m = malloc(n);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	INJECT_OR_SKIP(self->fd, .fail_copies = 1);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(n - 1, cmd.cpages);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, m, n, NULL));
	EXPECT_EQ(1, (int)(memchr(m, local_prot(variant) | HMM_DMIRROR_PROT_WRITE, n) != NULL));

	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(1UL, cmd.cpages);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 31));
	free(m);
}

/*
 * Catalogue D1, and F1's setting in small pages (its race: hmm_mock_thp):
 * MADV_FREE and MADV_PAGEOUT over device memory discard nothing and leak
 * no reference.
 */
TEST_F(mem, madvise_free_and_pageout_leave_device_data_alone)
{
	struct hmm_mock_page_info *info;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(32, 41);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, madvise(p, len, MADV_FREE));
	EXPECT_EQ(0, madvise(p, len, MADV_PAGEOUT) ? errno : 0);
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_DEVICE_PAGES(info, n, variant->id, 1);
	free(info);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 41));
}

/*
 * Catalogue B6: collecting pages for a migration replaces their entries
 * and must carry each entry's dirty bit to the page. A lazily freed page
 * written again is dirty only in its entry: a migration that fails
 * (FLAG_FAIL_ALLOC) puts the entries back, and reclaim must then keep the
 * page (upstream's dropped migrate_dirty_page test, without swap). Lazily
 * freed pages not written again are the control: reclaim drops them, or
 * the test could not tell. On one CPU, whose LRU batches the migration
 * drains, and inside one PMD, which the migration takes in one window.
 */
TEST_F(mem, a_lazily_freed_page_written_again_survives_a_failed_migration_and_reclaim)
{
	unsigned long i;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(16);
	ASSERT_EQ(0, hmm_mock_stay_on_this_cpu());
	p = map_huge();
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, TWO_MB, MADV_NOHUGEPAGE));
	hmm_mock_fill(p, 2 * len, 37);
	ASSERT_EQ(0, madvise(p, 2 * len, MADV_FREE));
	hmm_mock_fill(p, len, 39);

	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(0, madvise(p, 2 * len, MADV_PAGEOUT) ? errno : 0);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 39));
	for (i = len; i < 2 * len && !p[i]; i++)
		;
	EXPECT_EQ(2 * len, i) TH_LOG("control page %lu kept: reclaim did not drop lazily freed pages",
				     (i - len) / self->page);
}

/*
 * Catalogue C1 (F5's huge entries: hmm_mock_thp): /proc/self/pagemap tells
 * where device pages are.
 */
TEST_F(mem, pagemap_shows_where_device_pages_are)
{
	struct hmm_mock_page_info *info;
	uint64_t *pm;
	unsigned long i;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 43);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	pm = calloc(n, sizeof(*pm));
	ASSERT_NE(NULL, pm);
	ASSERT_EQ(0, hmm_mock_pagemap(p, n, self->page, pm));
	info = PAGE_INFO(self->fd, p, n);
	for (i = 0; i < n; i++) {
		/* Private pages are swap-type entries; coherent ones are mapped. */
		if (variant->coherent ? (pm[i] & PM_PRESENT) && (pm[i] & PM_PFN_MASK) == info[i].pfn :
					!(pm[i] & PM_PRESENT) && (pm[i] & PM_SWAP))
			continue;
		break;
	}
	EXPECT_EQ(n, i) TH_LOG("page %lu: pagemap 0x%llx, pfn 0x%llx", i,
			       (unsigned long long)pm[i], (unsigned long long)info[i].pfn);
	free(info);
	free(pm);
}

/*
 * Catalogue E3: while the device holds a page exclusively, the page stays
 * mapped (6.15 on) or loses its map count (before); the lane declares which
 * in HMM_MOCK_EXPECT_EXCLUSIVE_MAPCOUNT. A CPU write gives it back.
 */
TEST_F(mem, exclusive_access_keeps_the_mapcount_as_the_lane_declares)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_EXCLUSIVE_MAPCOUNT");
	struct hmm_mock_page_info *info;
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(4, 47);
	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL);
	if (ret == -EOPNOTSUPP)
		SKIP(return, "kernel without device-exclusive entries (CONFIG_DEVICE_PRIVATE=n)");
	ASSERT_EQ(0, ret);
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_EXCLUSIVE_MAPCOUNT is not declared for this kernel");
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_TRUE(!!(info[0].flags & HMM_MOCK_PAGE_DEVICE_EXCLUSIVE));
	EXPECT_EQ((unsigned int)HMM_MOCK_MEMORY_SYSTEM, info[0].mem_type);
	EXPECT_EQ(atoi(expect), info[0].mapcount);
	free(info);

	hmm_mock_fill(p, len, 53);
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_FALSE(!!(info[0].flags & HMM_MOCK_PAGE_DEVICE_EXCLUSIVE));
	EXPECT_EQ(1, info[0].mapcount);
	free(info);
}

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, 1);
}

/* Reads the int at @v, returning 1 if the read raised SIGBUS instead. */
static int read_or_sigbus(const volatile int *v, int *out)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	int bus = 0;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(sigbus_jmp, 1))
		bus = 1;
	else
		*out = *v;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/*
 * Catalogue G1: a CPU fault whose copy back fails gets SIGBUS, cleanly:
 * the page stays on the device with its data, and so do the neighbours
 * its fault would have brought back; the next fault works. The fault is
 * on the last page, so a window copied in address order would spend the
 * failure on a neighbour.
 */
TEST(cpu_fault_with_a_failed_copy_gets_sigbus_and_loses_nothing)
{
	size_t page = sysconf(_SC_PAGESIZE), len = 4 * page;
	const char *skipped;
	unsigned char prot[4];
	int fd, i, v = 0;
	char *p, *buf;

	HMM_MOCK_OPEN_OR_SKIP(fd, HMM_MOCK_PRIVATE0, skipped);
	(void)skipped;
	/* At the start of an aligned window of 16 (fault-around's largest). */
	p = map_small(32 * page);
	ASSERT_NE(MAP_FAILED, p);
	p += (16 - (uintptr_t)p / page % 16) % 16 * page;
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	hmm_mock_fill(p, len, 61);
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 4, NULL));
	INJECT_OR_SKIP(fd, .fail_copies = 1);

	EXPECT_EQ(1, read_or_sigbus((int *)(p + 3 * page), &v));
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, prot, 4, NULL));
	for (i = 0; i < 4; i++)
		EXPECT_EQ(HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE, prot[i])
			TH_LOG("page %d", i);
	EXPECT_EQ(0, read_or_sigbus((int *)(p + 3 * page), &v));
	EXPECT_EQ(61 + (int)(3 * page / sizeof(int)), v);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 61));
	free(buf);
	close(fd);
}

/*
 * A 2 MiB aligned range in small pages holding pattern @seed, that may
 * become a THP.
 */
static char *small_pages_to_collapse(int seed)
{
	char *p = map_huge();

	if (p == MAP_FAILED || madvise(p, TWO_MB, MADV_NOHUGEPAGE))
		return MAP_FAILED;
	hmm_mock_fill(p, TWO_MB, seed);
	return madvise(p, TWO_MB, MADV_HUGEPAGE) ? MAP_FAILED : p;
}

/*
 * Catalogue E5: MADV_COLLAPSE over a range partly on the device. Kernels
 * up to 7.3 at least fault device-private pages back to build the huge
 * page ("pulls": some or all of them); with the fix the catalogue names
 * the collapse gives up and the device keeps its pages ("keeps"). The
 * lane declares which in HMM_MOCK_EXPECT_COLLAPSE; the data survives both.
 * A range all in system memory must collapse first, so that "keeps" means
 * the device pages stopped it, not a collapse that cannot work here.
 */
TEST(collapse_over_device_pages_behaves_as_the_lane_declares)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_COLLAPSE");
	size_t page = sysconf(_SC_PAGESIZE);
	unsigned long n = TWO_MB / page, i, on_device = 0;
	const char *skipped;
	int fd, ret, tries = 0;
	unsigned char *m;
	char *p, *buf;

	HMM_MOCK_OPEN_OR_SKIP(fd, HMM_MOCK_PRIVATE0, skipped);
	(void)skipped;
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_COLLAPSE is not declared for this kernel");
	/* The control: a range all in system memory collapses here. */
	p = small_pages_to_collapse(71);
	ASSERT_NE(MAP_FAILED, p);
	/* Transient: no huge page free just now (-ENOMEM), or busy pages. */
	do {
		ret = madvise(p, TWO_MB, MADV_COLLAPSE) ? errno : 0;
	} while ((ret == ENOMEM || ret == EAGAIN) && ++tries < 3);
	ASSERT_EQ(0, ret) TH_LOG("MADV_COLLAPSE of system memory: %s", strerror(ret));
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 71));

	p = small_pages_to_collapse(71);
	ASSERT_NE(MAP_FAILED, p);
	m = malloc(n);
	buf = malloc(8 * page);
	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 8, NULL));
	EXPECT_SNAPSHOT(fd, p, 8, HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL | HMM_DMIRROR_PROT_WRITE);

	/* Either outcome is checked below; the log says which it was. */
	if (madvise(p, TWO_MB, MADV_COLLAPSE))
		TH_LOG("MADV_COLLAPSE: %s", strerror(errno));
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, m, n, NULL));
	for (i = 0; i < 8; i++)
		on_device += !!(m[i] & HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL);
	TH_LOG("%lu of 8 device pages left on the device", on_device);
	if (!strcmp(expect, "keeps")) {
		EXPECT_EQ(8UL, on_device);
	} else {
		ASSERT_STREQ("pulls", expect);
		EXPECT_GT(8UL, on_device);
	}
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 71));
	free(buf);
	free(m);
	close(fd);
}

struct fault_race {
	int fd;
	const volatile int *p;
	void *buf;		/* a page for the mover's commands */
	int seed;
	pthread_barrier_t start;
	int wrong;		/* reads that saw the wrong value */
};

static void *read_after_barrier(void *arg)
{
	struct fault_race *r = arg;

	pthread_barrier_wait(&r->start);
	if (*r->p != r->seed)
		__atomic_add_fetch(&r->wrong, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *migrate_after_barrier(void *arg)
{
	struct fault_race *r = arg;

	pthread_barrier_wait(&r->start);
	hmm_mock_cmd(r->fd, HMM_DMIRROR_MIGRATE_TO_DEV, (void *)r->p, r->buf, 1, NULL);
	hmm_mock_cmd(r->fd, HMM_DMIRROR_RELEASE, (void *)r->p, r->buf, 1, NULL);
	return NULL;
}

#define RACE_READERS	4
#define RACE_ROUNDS	30
/*
 * Where the lane declares a livelock, a round that takes this long, or
 * rounds that take RACE_LIVELOCK_TOTAL_MS in all (within the harness's
 * 30 s), are one. Elsewhere there is no deadline: a hang fails by the
 * harness's timeout, not by a clock.
 */
#define RACE_LIVELOCK_MS	8000
#define RACE_LIVELOCK_TOTAL_MS	20000

/*
 * A fork child's side of the race: @RACE_ROUNDS times, the page goes to
 * the device and RACE_READERS threads fault it back while another thread
 * migrates and evicts it; a byte on @progress after each round. Exit
 * status 0 when every read saw the data, 1 if not, 2 on a setup error.
 */
static int run_fault_race(int id, int progress)
{
	size_t page = sysconf(_SC_PAGESIZE);
	pthread_t readers[RACE_READERS], mover;
	struct fault_race r = { .seed = 67 };
	int round, i, bad = 0;
	char c = 0;

	/* Not left behind, faulting, if the test is killed by its timeout. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL))
		return 2;
	r.fd = hmm_mock_open(id, &(const char *){ NULL }, &i);
	r.buf = malloc(page);
	r.p = map_small(page);
	if (r.fd < 0 || !r.buf || r.p == MAP_FAILED ||
	    hmm_mock_inject(r.fd, HMM_MOCK_KNOBS(.fault_delay_ms = 2, .hold_lock_ms = 2)))
		return 2;
	*(int *)r.p = r.seed;
	for (round = 0; round < RACE_ROUNDS; round++) {
		if (hmm_mock_cmd(r.fd, HMM_DMIRROR_MIGRATE_TO_DEV, (void *)r.p, r.buf, 1, NULL) ||
		    pthread_barrier_init(&r.start, NULL, RACE_READERS + 1))
			return 2;
		for (i = 0; i < RACE_READERS; i++)
			bad |= pthread_create(&readers[i], NULL, read_after_barrier, &r);
		bad |= pthread_create(&mover, NULL, migrate_after_barrier, &r);
		if (bad)
			return 2;
		for (i = 0; i < RACE_READERS; i++)
			pthread_join(readers[i], NULL);
		pthread_join(mover, NULL);
		pthread_barrier_destroy(&r.start);
		if (write(progress, &c, 1) != 1)
			return 2;
	}
	return r.wrong || *r.p != r.seed;
}

/* Page faults process @pid took so far (minor and major), or 0. */
static unsigned long long task_faults(pid_t pid)
{
	unsigned long long minflt = 0, majflt = 0;
	char path[64], buf[1024], *s;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	s = hmm_mock_proc_stat(path, buf, sizeof(buf));
	if (!s || sscanf(s, "%*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt) != 2)
		return 0;
	return minflt + majflt;
}

/*
 * Catalogue A4, B7: CPU faults on one device page race each other, a
 * migration and an eviction, while each fault sleeps before collecting the
 * page and again holding it locked (HMM_MOCK_INJECT). Since 6.15 a fault
 * waits for the one holding the page lock and every round completes with
 * every reader seeing the data ("completes"); before, each waiting fault
 * holds a reference that makes the others' migrations fail, and they
 * retry forever ("livelocks": the stalled child keeps faulting, until
 * SIGKILL ends it). The lane declares which in HMM_MOCK_EXPECT_FAULT_RACE.
 */
TEST(racing_cpu_faults_on_one_device_page_behave_as_the_lane_declares)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_FAULT_RACE");
	size_t page = sysconf(_SC_PAGESIZE);
	struct hmm_mock_stats st0, st1;
	unsigned long long faults0 = 0, faults1 = 0;
	int fd, status, rounds = 0;
	struct pollfd pfd;
	const char *skipped;
	int progress[2];
	double t0, t1;
	char *p, *buf;
	pid_t pid;
	char c;

	HMM_MOCK_OPEN_OR_SKIP(fd, HMM_MOCK_PRIVATE0, skipped);
	(void)skipped;
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_FAULT_RACE is not declared for this kernel");

	/* The knobs work: a lone fault takes at least both delays. */
	p = map_small(page);
	buf = malloc(page);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(NULL, buf);
	hmm_mock_fill(p, page, 67);
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 1, NULL));
	INJECT_OR_SKIP(fd, .fault_delay_ms = 20, .hold_lock_ms = 20);
	t0 = hmm_mock_now();
	EXPECT_EQ(-1, hmm_mock_check(p, page, 67));
	t1 = hmm_mock_now();
	EXPECT_LE(0.040, t1 - t0);

	st0 = hmm_mock_stats(fd);
	ASSERT_EQ(0, pipe(progress));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(progress[0]);
		_exit(run_fault_race(HMM_MOCK_PRIVATE0, progress[1]));
	}
	close(progress[1]);
	pfd = (struct pollfd){ .fd = progress[0], .events = POLLIN };
	t0 = hmm_mock_now();
	for (;;) {
		int left = RACE_LIVELOCK_TOTAL_MS - (int)((hmm_mock_now() - t0) * 1000);

		if (!strcmp(expect, "livelocks"))
			left = left < 0 ? 0 : left < RACE_LIVELOCK_MS ? left : RACE_LIVELOCK_MS;
		else
			left = -1;
		faults0 = task_faults(pid);
		if (poll(&pfd, 1, left) != 1 || read(progress[0], &c, 1) != 1)
			break;
		rounds++;
	}
	faults1 = task_faults(pid);
	if (rounds < RACE_ROUNDS)
		kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	close(progress[0]);
	TH_LOG("%d of %d rounds completed", rounds, RACE_ROUNDS);
	st1 = hmm_mock_stats(fd);

	if (!strcmp(expect, "completes")) {
		EXPECT_LT(st0.cpu_faults, st1.cpu_faults);
		EXPECT_EQ(RACE_ROUNDS, rounds);
		EXPECT_TRUE(WIFEXITED(status)) TH_LOG("killed after %d rounds", rounds);
		EXPECT_EQ(0, WEXITSTATUS(status));
	} else {
		ASSERT_STREQ("livelocks", expect);
		EXPECT_GT(RACE_ROUNDS, rounds);
		EXPECT_TRUE(WIFSIGNALED(status));
		/* Retrying, not asleep: a hang in a killable sleep takes no faults. */
		EXPECT_LT(faults0 + 100, faults1) TH_LOG("faults while stalled: %llu",
							 faults1 - faults0);
	}
	/* Killed or not, the device gives all its pages back. */
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_RELEASE, p, buf, 1, NULL));
	EXPECT_FREE_LISTS_CLEAN(fd);
	free(buf);
	close(fd);
}

TEST_HARNESS_MAIN
