// SPDX-License-Identifier: GPL-2.0
/*
 * Large device folios: a THP migrates to the device as one PMD-order
 * device folio and comes back as a THP, by MIGRATE_TO_SYS and by a CPU
 * fault; partial munmap splits it; HMM_DMIRROR_FLAG_FAIL_ALLOC forces the
 * single-page fallback; fork; and the free lists stay balanced. The
 * pagemap test and the tests from the anon THP count on reproduce kernel
 * bugs of large device folios (F5, A8, F3, F1, F4 in REPRODUCERS.md; the
 * 7.3-mutant lane has their fixes reverted). Kernels (or memory kinds)
 * without large device folios skip every test.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

FIXTURE(thp) {
	int fd;
	size_t page;
	unsigned long npages;	/* pages in a PMD */
	void *map;		/* the mapping, twice the size of a PMD */
	char *thp;		/* its PMD-aligned half */
	void *buf;		/* TWO_MB for the device's side of the data */
	const char *skipped;	/* set when the setup skipped */
};

FIXTURE_VARIANT(thp) {
	int id;
	bool coherent;
};

FIXTURE_VARIANT_ADD(thp, private) { .id = 0, .coherent = false };
FIXTURE_VARIANT_ADD(thp, coherent) { .id = 2, .coherent = true };

static unsigned char local_prot(const FIXTURE_VARIANT(thp) *variant)
{
	return hmm_mock_local_prot(variant->coherent);
}

FIXTURE_SETUP(thp)
{
	struct hmm_mock_stats st;

	self->page = sysconf(_SC_PAGESIZE);
	self->npages = TWO_MB / self->page;
	self->map = MAP_FAILED;
	self->buf = NULL;
	HMM_MOCK_OPEN_OR_SKIP(self->fd, variant->id, self->skipped);
	st = hmm_mock_stats(self->fd);
	if (!st.large_folio_pages) {
		self->skipped = variant->coherent ?
			"no large device-coherent folios: the kernel does not migrate huge coherent mappings back" :
			"kernel without large device-private folios";
		SKIP(return, "%s", self->skipped);
	}
	ASSERT_EQ(self->npages, st.large_folio_pages);

	self->map = mmap(NULL, 2 * TWO_MB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->map);
	self->thp = (char *)(((uintptr_t)self->map + TWO_MB - 1) & ~(TWO_MB - 1));
	ASSERT_EQ(0, madvise(self->thp, TWO_MB, MADV_HUGEPAGE));
	self->buf = malloc(TWO_MB);
	ASSERT_NE(NULL, self->buf);
	/* Faulted in now (maybe as a THP), not in the middle of a test. */
	memset(self->buf, 0, TWO_MB);
}

FIXTURE_TEARDOWN(thp)
{
	if (self->map != MAP_FAILED)
		munmap(self->map, 2 * TWO_MB);
	free(self->buf);
	if (self->fd >= 0)
		close(self->fd);
}

/* Fills the THP with pattern @seed and checks the kernel made it a THP. */
static int make_thp(FIXTURE_DATA(thp) *self, int seed)
{
	unsigned char prot;

	hmm_mock_fill(self->thp, TWO_MB, seed);
	if (hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, self->thp, &prot, 1, NULL))
		return -1;
	return prot == (HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD) ? 0 : -1;
}

/*
 * Migrates the THP to the device, its data into self->buf; returns the
 * pages the driver reported.
 */
static long to_device(FIXTURE_DATA(thp) *self)
{
	struct hmm_dmirror_cmd cmd;
	int ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, self->thp, self->buf,
			       self->npages, &cmd);

	return ret ? ret : (long)cmd.cpages;
}

static long to_system(int fd, char *thp, unsigned long npages)
{
	struct hmm_dmirror_cmd cmd;
	int ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, thp, NULL, npages, &cmd);

	return ret ? ret : (long)cmd.cpages;
}

TEST_F(thp, thp_migrates_as_one_huge_device_page)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 201));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ((long)self->npages, to_device(self));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages,
			local_prot(variant) | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
	EXPECT_EQ(st0.large_allocs + 1, st1.large_allocs);
	EXPECT_EQ(st0.pages_in_use + self->npages, st1.pages_in_use);
	EXPECT_EQ(st1.pages_total, st1.pages_free + st1.pages_in_use);
	EXPECT_EQ(-1, hmm_mock_check(self->buf, TWO_MB, 201));
}

/*
 * Catalogue F5: /proc/self/pagemap over a device-private THP shows one
 * swap-type entry for each of its pages, in order; over a coherent THP,
 * the pages mapped. Until 7.2 the kernel also warned there (DEBUG_VM).
 */
TEST_F(thp, pagemap_shows_each_page_of_a_device_thp)
{
	struct hmm_mock_page_info *info;
	unsigned long i;
	uint64_t *pm;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 215));
	ASSERT_EQ((long)self->npages, to_device(self));
	pm = calloc(self->npages, sizeof(*pm));
	info = calloc(self->npages, sizeof(*info));
	ASSERT_TRUE(pm && info);
	ASSERT_EQ(0, hmm_mock_pagemap(self->thp, self->npages, self->page, pm));
	ASSERT_EQ(0, hmm_mock_page_info(self->fd, self->thp, self->npages, info));
	for (i = 0; i < self->npages; i++)
		if (variant->coherent ? !(pm[i] & PM_PRESENT) || (pm[i] & PM_PFN_MASK) != info[i].pfn :
					(pm[i] & PM_PRESENT) || !(pm[i] & PM_SWAP) ||
					PM_SWAP_OFFSET(pm[i]) != info[i].pfn)
			break;
	EXPECT_EQ(self->npages, i) TH_LOG("page %lu: pagemap 0x%llx, pfn 0x%llx", i,
					  (unsigned long long)pm[i],
					  (unsigned long long)info[i].pfn);
	free(info);
	free(pm);
}

TEST_F(thp, migrate_to_sys_brings_back_a_thp)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 203));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ((long)self->npages, to_device(self));
	EXPECT_EQ((long)self->npages, to_system(self->fd, self->thp, self->npages));
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages,
			HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 203));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.large_allocs + 1, st1.large_allocs);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_EQ(st0.page_frees + 1, st1.page_frees);
}

TEST_F(thp, cpu_fault_brings_back_a_thp)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 205));
	ASSERT_EQ((long)self->npages, to_device(self));
	st0 = hmm_mock_stats(self->fd);
	/* One CPU access in the middle moves the whole folio. */
	EXPECT_EQ(205 + 4096, ((int *)self->thp)[4096]);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.cpu_faults + 1, st1.cpu_faults);
	EXPECT_EQ(st0.pages_in_use - self->npages, st1.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages,
			HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 205));
}

/*
 * HMM_DMIRROR_FLAG_FAIL_ALLOC reaches the next CPU fault too: it finds no
 * THP, so the kernel splits the folio and the faulting page comes back as
 * a small page; every page keeps its data.
 */
TEST_F(thp, fail_alloc_makes_the_next_cpu_fault_bring_back_small_pages)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 209));
	ASSERT_EQ((long)self->npages, to_device(self));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	st0 = hmm_mock_stats(self->fd);
	EXPECT_EQ(209 + 4096, ((int *)self->thp)[4096]);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.cpu_faults + 1, st1.cpu_faults);
	EXPECT_LT(st0.folio_splits, st1.folio_splits);
	EXPECT_SNAPSHOT(self->fd, self->thp + 4096 * sizeof(int), 1, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 209));
}

TEST_F(thp, partial_munmap_splits_and_keeps_the_rest)
{
	unsigned long half = self->npages / 2;
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 207));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ((long)self->npages, to_device(self));
	ASSERT_EQ(0, munmap(self->thp, TWO_MB / 2));

	/* The rest stays on the device, now mapped page by page. */
	EXPECT_SNAPSHOT(self->fd, self->thp + TWO_MB / 2, half,
			local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ((long)half, to_system(self->fd, self->thp + TWO_MB / 2, half));
	EXPECT_EQ(-1, hmm_mock_check(self->thp + TWO_MB / 2, TWO_MB / 2,
				     207 + (int)(TWO_MB / 2 / sizeof(int))));

	/* Every page of the split folio came back to the free lists. */
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_EQ(st1.pages_total, st1.pages_free + st1.pages_in_use);
	EXPECT_LE(st0.folio_splits + 1, st1.folio_splits);
}

TEST_F(thp, fail_alloc_falls_back_to_single_device_pages)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 209));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	ASSERT_EQ((long)self->npages, to_device(self));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.large_allocs, st1.large_allocs);
	EXPECT_EQ(st0.pages_in_use + self->npages, st1.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages,
			local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(self->buf, TWO_MB, 209));
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 209));
}

TEST_F(thp, fail_alloc_on_return_falls_back_to_single_pages)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 211));
	ASSERT_EQ((long)self->npages, to_device(self));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	EXPECT_EQ((long)self->npages, to_system(self->fd, self->thp, self->npages));
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 211));
	/* The kernel split the device folio to move it page by page. */
	st1 = hmm_mock_stats(self->fd);
	EXPECT_LE(st0.folio_splits + 1, st1.folio_splits);
	EXPECT_EQ(st0.pages_in_use - self->npages, st1.pages_in_use);
}

TEST_F(thp, fork_child_keeps_data_after_parent_fault)
{
	pid_t pid;
	int go;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 213));
	ASSERT_EQ((long)self->npages, to_device(self));

	/* The child checks the data it shares after the parent's fault. */
	pid = hmm_mock_fork_checker(self->thp, TWO_MB, 213, &go);
	ASSERT_GE(pid, 0);

	/* The parent faults one byte back while the child still maps it. */
	EXPECT_EQ(213, ((int *)self->thp)[0]);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 213));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 213));
}

TEST_F(thp, round_trips_keep_free_lists_balanced)
{
	struct hmm_mock_stats st0, st1;
	int i;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 215));
	/* The first trip may add device memory; later ones must not. */
	ASSERT_EQ((long)self->npages, to_device(self));
	ASSERT_EQ((long)self->npages, to_system(self->fd, self->thp, self->npages));
	st0 = hmm_mock_stats(self->fd);
	for (i = 0; i < 8; i++) {
		ASSERT_EQ((long)self->npages, to_device(self));
		if (i & 1) {
			ASSERT_EQ((long)self->npages,
				  to_system(self->fd, self->thp, self->npages));
		} else {
			ASSERT_EQ(215 + 8, ((int *)self->thp)[8]);	/* CPU fault */
		}
	}
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.chunks, st1.chunks);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_EQ(st0.pages_free, st1.pages_free);
	EXPECT_EQ(st0.large_free, st1.large_free);
	EXPECT_EQ(st0.large_allocs + 8, st1.large_allocs);
	EXPECT_EQ(st0.page_frees + 8, st1.page_frees);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 215));
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages,
			HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
}

/* A counter of a /proc or /sys file ("NAME value" lines, or one value). */
static long read_counter(const char *path, const char *name)
{
	char key[64];
	long v = -1, x;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (!name) {
		if (fscanf(f, "%ld", &x) == 1)
			v = x;
	} else {
		while (fscanf(f, "%63s %ld%*[^\n]", key, &x) == 2)
			if (!strcmp(key, name)) {
				v = x;
				break;
			}
	}
	fclose(f);
	return v;
}

#define NR_ANON_THP "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/stats/nr_anon"

/*
 * A8 (eef0702c4fc0): the mTHP nr_anon counter counts a device folio like
 * any anon THP, so freeing one must take it off again.
 */
TEST_F(thp, freed_device_thps_leave_the_anon_thp_count_where_it_was)
{
	long before, after;
	int i;

	SKIP_IF_SETUP_SKIPPED();
	before = read_counter(NR_ANON_THP, NULL);
	ASSERT_LE(0, before) TH_LOG("cannot read " NR_ANON_THP);
	for (i = 0; i < 16; i++) {
		ASSERT_EQ(0, make_thp(self, 230 + i));
		ASSERT_EQ((long)self->npages, to_device(self));
		/* Odd rounds free the device folio by a CPU fault, even by MIGRATE_TO_SYS. */
		if (i & 1) {
			ASSERT_EQ(230 + i + 8, ((int *)self->thp)[8]);
		} else {
			ASSERT_EQ((long)self->npages,
				  to_system(self->fd, self->thp, self->npages));
		}
		ASSERT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 230 + i));
		ASSERT_EQ(0, madvise(self->thp, TWO_MB, MADV_DONTNEED));
	}
	after = read_counter(NR_ANON_THP, NULL);
	/* The count is system-wide: a little slack, where each leak is one per round. */
	EXPECT_GE(2, labs(after - before)) TH_LOG("nr_anon %ld -> %ld", before, after);
}

/*
 * Page-table pages in use, system-wide, with every CPU's pending count
 * folded in first (/proc/sys/vm/stat_refresh, root only; without it the
 * count can lag by a few pages per CPU).
 */
static long page_tables(void)
{
	int fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	ssize_t n;

	if (fd >= 0) {
		n = write(fd, "1", 1);	/* failing, the count lags a little more */
		(void)n;
		close(fd);
	}
	return read_counter("/proc/vmstat", "nr_page_table_pages");
}

/*
 * F3 (2c6f81d58741): migrating an empty PMD-sized range gives the kernel
 * a large device folio to insert as a PMD; in a range userfaultfd handles
 * missing pages it backs off, and must free the page table it set aside.
 */
TEST_F(thp, huge_inserts_backing_off_for_userfaultfd_free_their_page_tables)
{
	struct hmm_mock_stats st0, st1;
	long before, after;
	int uffd, i;

	SKIP_IF_SETUP_SKIPPED();
	uffd = hmm_mock_uffd_register(self->thp, TWO_MB, UFFDIO_REGISTER_MODE_MISSING);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	/*
	 * Nothing moves (the range stays empty: ENOENT). The first call may
	 * allocate the page-table levels above the PMD.
	 */
	ASSERT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, self->thp,
					self->buf, self->npages, NULL));
	st0 = hmm_mock_stats(self->fd);
	before = page_tables();
	for (i = 0; i < 64; i++)
		ASSERT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, self->thp,
						self->buf, self->npages, NULL));
	after = page_tables();
	st1 = hmm_mock_stats(self->fd);
	/* System-wide: a little slack, where each leak is one per call. */
	EXPECT_GT(16, after - before) TH_LOG("page tables %ld -> %ld", before, after);
	/* Each call was offered a large folio, and gave it back. */
	EXPECT_LE(st0.large_allocs + 64, st1.large_allocs);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	close(uffd);
}

/*
 * MADV_FREE over a THP on the device discards nothing. F1's setting
 * without its race: on x86 the walk passes a device-private PMD by before
 * madvise_free_huge_pmd(), so only the race below reaches F1's code.
 */
TEST_F(thp, madvise_free_leaves_a_device_thp_and_its_data_alone)
{
	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 250));
	ASSERT_EQ((long)self->npages, to_device(self));
	ASSERT_EQ(0, madvise(self->thp, TWO_MB, MADV_FREE));
	EXPECT_SNAPSHOT(self->fd, self->thp, self->npages,
			local_prot(variant) | HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 250));
}

struct thp_mover {
	int fd;
	char *thp;
	void *buf;
	unsigned long npages;
	int go, done;		/* pipe ends: one byte a round each way */
	unsigned long moved;	/* rounds that moved the whole THP */
	int bad;		/* an errno no race explains, or 0 */
};

/* Each round, moves the THP to the device once, when told to. */
static void *thp_mover_run(void *arg)
{
	struct thp_mover *m = arg;
	struct hmm_dmirror_cmd cmd;
	char c;
	int ret;

	while (read(m->go, &c, 1) == 1) {
		ret = hmm_mock_cmd(m->fd, HMM_DMIRROR_MIGRATE_TO_DEV, m->thp, m->buf, m->npages,
				   &cmd);
		if (!ret && cmd.cpages == m->npages)
			m->moved++;
		/* A lazily freed THP that reclaim takes is not there to move. */
		else if (ret && ret != -ENOENT && ret != -EBUSY && !m->bad)
			m->bad = ret;
		if (write(m->done, &c, 1) != 1)
			break;
	}
	return NULL;
}

/*
 * F1 (madvise_free_huge_pmd() and device-private PMDs, 7.2): MADV_FREE
 * checks for a THP without the PMD lock, and a migration to the device
 * may replace it by a device-private PMD before the lock is taken. Each
 * round, another thread moves the THP to the device while this one
 * lazily frees it, then this one writes it again, bringing it back: no
 * kernel report, no data lost, not even to reclaim. Both threads share
 * one CPU and the mover is SCHED_IDLE, so it almost always runs only when
 * this thread sleeps: MADV_FREE passes its check first, and a kernel that
 * sleeps in the window (7.3-mutant) lets the migration in every round.
 * Without that sleep the window is a few instructions the mover never
 * runs in: an unfixed kernel passes this test unless widened likewise.
 */
TEST_F(thp, madvise_free_racing_migrations_of_a_thp_keeps_the_data)
{
	struct thp_mover m = {
		.fd = self->fd, .thp = self->thp, .buf = self->buf, .npages = self->npages,
	};
	struct sched_param idle = { 0 };
	int go[2], done[2], i, err;
	pthread_t thread;
	char c = 0;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 251));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	m.go = go[0];
	m.done = done[1];
	ASSERT_EQ(0, hmm_mock_stay_on_this_cpu());
	ASSERT_EQ(0, pthread_create(&thread, NULL, thp_mover_run, &m));
	ASSERT_EQ(0, pthread_setschedparam(thread, SCHED_IDLE, &idle));
	for (i = 0; i < 32; i++) {
		ASSERT_EQ(1, write(go[1], &c, 1));
		err = madvise(self->thp, TWO_MB, MADV_FREE) ? errno : 0;
		ASSERT_EQ(1, read(done[0], &c, 1));
		ASSERT_EQ(0, err) TH_LOG("round %d: %s", i, strerror(err));
		hmm_mock_fill(self->thp, TWO_MB, 252 + i);
	}
	close(go[1]);
	pthread_join(thread, NULL);
	close(go[0]);
	close(done[0]);
	close(done[1]);
	ksft_print_msg("%lu of %d rounds moved the THP\n", m.moved, i);
	EXPECT_EQ(0, m.bad) TH_LOG("MIGRATE_TO_DEV: %s", strerror(-m.bad));
	/* The mutant's proof needs migrations in the window; all rounds move. */
	EXPECT_LE((unsigned long)i / 2, m.moved) TH_LOG("the THP seldom moved");
	/* A written page taken for lazily freed would go now. */
	EXPECT_EQ(0, madvise(self->thp, TWO_MB, MADV_PAGEOUT) ? errno : 0);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 252 + i - 1));
}

/*
 * F4 (page_vma_mapped_walk() and device-private PMDs, 7.2): a forked child
 * keeps its own device THP when the parent migrates a THP of its own at
 * the same address; the parent's rmap walk meets the child's PMD too.
 */
TEST_F(thp, a_childs_device_thp_survives_the_parent_migrating_its_own)
{
	int to_child[2], to_parent[2];
	char c = 0;
	pid_t pid;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, make_thp(self, 240));
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		const char *why;
		int fd, err;

		close(to_child[1]);
		close(to_parent[0]);
		/* Once the parent has its own THP, move the shared one here. */
		if (read(to_child[0], &c, 1) != 1)
			_exit(3);
		fd = hmm_mock_open(variant->id, &why, &err);
		if (fd < 0 || hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, self->thp,
					   self->buf, self->npages, NULL))
			_exit(4);
		if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1)
			_exit(3);
		_exit(hmm_mock_check(self->thp, TWO_MB, 240) == -1 ? 0 : 1);
	}
	close(to_child[0]);
	close(to_parent[1]);
	ASSERT_EQ(0, madvise(self->thp, TWO_MB, MADV_DONTNEED));
	ASSERT_EQ(0, make_thp(self, 241));
	ASSERT_EQ(1, write(to_child[1], &c, 1));
	ASSERT_EQ(1, read(to_parent[0], &c, 1));
	EXPECT_EQ((long)self->npages, to_device(self));
	ASSERT_EQ(1, write(to_child[1], &c, 1));
	EXPECT_CHILD_OK(pid);
	EXPECT_EQ(-1, hmm_mock_check(self->thp, TWO_MB, 241));
	close(to_child[1]);
	close(to_parent[0]);
}

TEST_HARNESS_MAIN
