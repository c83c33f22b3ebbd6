// SPDX-License-Identifier: GPL-2.0
/*
 * States the clean single-threaded tests never create: ranges partly on
 * the device, threads of one process racing on one file, lazily freed
 * pages, ranges far larger than memory, and bad result buffers.
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

/* Rounds of the race tests: enough to hit the window of a lost write. */
#define RACE_ROUNDS	150

/* Inside one PMD, which the migration takes in one window. */
TEST_F(mem, migrating_a_range_whose_tail_is_on_the_device_moves_the_head)
{
	struct hmm_dmirror_cmd cmd;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(64);
	p = map_huge();
	ASSERT_NE(MAP_FAILED, (void *)p);
	ASSERT_EQ(0, madvise(p, TWO_MB, MADV_NOHUGEPAGE));
	hmm_mock_fill(p, len, 301);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p + len / 2, buf,
				  n / 2, NULL));
	/* The last entries of the window cannot move: they are there already. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 301));
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 301));
}

TEST_F(mem, migrating_a_range_with_every_other_page_on_the_device_moves_the_rest)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(64, 307);
	for (i = 1; i < n; i += 2)
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p + i * self->page,
					  buf, 1, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, NULL, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 307));
}

/* A thread that keeps moving a range to the device and back. */
struct mover {
	int fd;
	char *p;
	unsigned long n;
	void *buf;
	bool exclusive;		/* to the device, then EXCLUSIVE */
	volatile bool stop;
	int bad;		/* an errno no race explains, or 0 */
};

static bool mover_expected(int ret)
{
	/* Pages the other thread holds at the moment do not move. */
	return !ret || ret == -ENOENT || ret == -EBUSY;
}

static void *mover_run(void *arg)
{
	struct mover *m = arg;
	int ret;

	while (!m->stop && !m->bad) {
		if (m->exclusive) {
			/* From the device, so that the kernel first moves them back. */
			ret = hmm_mock_cmd(m->fd, HMM_DMIRROR_MIGRATE_TO_DEV, m->p, m->buf, m->n,
					   NULL);
			if (mover_expected(ret))
				ret = hmm_mock_cmd(m->fd, HMM_DMIRROR_EXCLUSIVE, m->p, m->buf,
						   m->n, NULL);
		} else {
			ret = hmm_mock_cmd(m->fd, HMM_DMIRROR_MIGRATE_TO_DEV, m->p, m->buf, m->n,
					   NULL);
			if (mover_expected(ret))
				ret = hmm_mock_cmd(m->fd, HMM_DMIRROR_MIGRATE_TO_SYS, m->p, NULL,
						   m->n, NULL);
		}
		if (!mover_expected(ret))
			m->bad = ret;
	}
	return NULL;
}

/*
 * Device WRITEs from this thread while another thread of the process keeps
 * moving the same pages: every WRITE the driver acknowledges must be what
 * the CPU reads next.
 */
static void writes_survive(struct __test_metadata *_metadata, int fd, size_t page,
			   bool exclusive)
{
	unsigned long n = 16, i;
	size_t len = n * page;
	struct hmm_dmirror_cmd cmd;
	struct mover m = { .fd = fd, .n = n, .exclusive = exclusive };
	pthread_t thread;
	void *wbuf;
	int ret, tries;

	m.p = map_small(len);
	ASSERT_NE(MAP_FAILED, m.p);
	m.buf = malloc(len);
	wbuf = malloc(len);
	ASSERT_NE(NULL, m.buf);
	ASSERT_NE(NULL, wbuf);
	hmm_mock_fill(m.p, len, 0);
	ASSERT_EQ(0, pthread_create(&thread, NULL, mover_run, &m));

	for (i = 1; i <= RACE_ROUNDS && !m.bad; i++) {
		hmm_mock_fill(wbuf, len, i * 1000);
		/* An invalidation storm may make a WRITE give up; it says so. */
		tries = 0;
		do
			ret = hmm_mock_cmd(fd, HMM_DMIRROR_WRITE, m.p, wbuf, n, &cmd);
		while (ret == -EBUSY && ++tries < 100);
		ASSERT_EQ(0, ret);
		ASSERT_EQ(n, cmd.cpages);
		ASSERT_EQ(-1, hmm_mock_check(m.p, len, i * 1000))
			TH_LOG("round %lu: an acknowledged device write was lost", i);
	}
	m.stop = true;
	pthread_join(thread, NULL);
	EXPECT_EQ(0, m.bad);
	free(wbuf);
	free(m.buf);
}

TEST_F(mem, device_write_racing_with_migrations_is_never_lost)
{
	SKIP_IF_SETUP_SKIPPED();
	writes_survive(_metadata, self->fd, self->page, false);
}

TEST_F(mem, exclusive_racing_with_device_writes_loses_none)
{
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(1, 1);
	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL);
	if (ret == -EOPNOTSUPP)
		SKIP(return, "kernel without device-exclusive entries (CONFIG_DEVICE_PRIVATE=n)");
	ASSERT_EQ(0, ret);
	writes_survive(_metadata, self->fd, self->page, true);
}

TEST_F(mem, device_write_to_lazily_freed_pages_survives_reclaim)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 311);
	/* The pages may now be dropped, unless something dirties them. */
	ASSERT_EQ(0, madvise(p, len, MADV_FREE));
	hmm_mock_fill(buf, len, 313);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, madvise(p, len, MADV_PAGEOUT));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 313)) TH_LOG("the device's write was dropped");
}

/*
 * On a device page the device's write is the only copy: its dirty state
 * must come back with it, or reclaim drops the lazily freed system page as
 * clean. The half not written since MADV_FREE is the control: reclaim
 * drops it, or the test could not tell (a reused device page that kept the
 * swap-backed flag of its last contents would pass it on). On one CPU,
 * whose LRU batches the migrations and MADV_PAGEOUT drain.
 */
TEST_F(mem, device_write_to_lazily_freed_pages_on_the_device_survives_their_way_back)
{
	struct hmm_dmirror_cmd cmd;
	size_t i;
	char *q;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, hmm_mock_stay_on_this_cpu());
	MAP_FILLED(16, 317);
	/* Swap-backed contents before: the device hands their pages out next. */
	q = map_small(len);
	ASSERT_NE(MAP_FAILED, (void *)q);
	hmm_mock_fill(q, len, 315);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, q, buf, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, q, buf, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, madvise(p, len, MADV_FREE));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	hmm_mock_fill(buf, len / 2, 319);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n / 2, &cmd));
	ASSERT_EQ(n / 2, cmd.cpages);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, madvise(p, len, MADV_PAGEOUT) ? errno : 0);
	EXPECT_EQ(-1, hmm_mock_check(p, len / 2, 319)) TH_LOG("the device's write was dropped");
	for (i = len / 2; i < len && !p[i]; i++)
		;
	EXPECT_EQ(len, i) TH_LOG("control page %zu kept: reclaim did not drop lazily freed pages",
				 (i - len / 2) / self->page);
}

/* Clock ticks child @pid has spent in the kernel, or -1 once it exited. */
static long kernel_ticks(pid_t pid)
{
	char path[64], line[1024], *s, state = 'Z';
	long stime = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	/* Fields after the command name: state is the 3rd, stime the 15th. */
	if (!fgets(line, sizeof(line), f) || !(s = strrchr(line, ')')) ||
	    sscanf(s + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %ld", &state,
		   &stime) != 2 || state == 'Z' || state == 'X')
		stime = -1;
	fclose(f);
	return stime;
}

/* Seconds of kernel time a killed command may still take. */
#define KILL_GRACE	2

/*
 * Runs HMM_DMIRROR_* command @op over @npages at @p (buffer @buf) in a
 * child and kills the child once it has spent a few clock ticks in the
 * kernel since it said it was starting, so inside the command. SIGKILL is
 * delivered at the latest when the command returns; what shows that the
 * command stopped for it is the kernel time the child took after the
 * kill: a command that ignores the signal runs to the end of its range,
 * many times KILL_GRACE.
 */
static void kill_inside_command(struct __test_metadata *_metadata, int id, unsigned long op,
				void *p, void *buf, unsigned long npages)
{
	long hz = sysconf(_SC_CLK_TCK), t0, t;
	int fds[2], status = 0;
	struct rusage ru;
	double after;
	pid_t pid;
	char c = 0;

	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		const char *why;
		int fd, err;

		/* A file acts only on the process that opened it. */
		close(fds[0]);
		fd = hmm_mock_open(id, &why, &err);
		if (fd < 0 || write(fds[1], &c, 1) != 1)
			_exit(3);
		_exit(-hmm_mock_cmd(fd, op, p, buf, npages, NULL));
	}
	close(fds[1]);
	ASSERT_EQ(1, read(fds[0], &c, 1));
	close(fds[0]);
	t0 = kernel_ticks(pid);
	do
		t = kernel_ticks(pid);
	while (t >= 0 && t < t0 + 3);
	ASSERT_LE(0, t) TH_LOG("the command ended before the kill");
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, wait4(pid, &status, 0, &ru));
	EXPECT_TRUE(WIFSIGNALED(status))
		TH_LOG("the command ended with %d before the kill", -WEXITSTATUS(status));
	after = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6 - (double)t / hz;
	EXPECT_LT(after, KILL_GRACE) TH_LOG("the command ran on for %.1f s after SIGKILL", after);
}

TEST_F(mem, migration_of_a_huge_range_ends_on_sigkill)
{
	/* A terabyte of address space that costs no memory. */
	size_t len = 1UL << 40;
	void *p;

	SKIP_IF_SETUP_SKIPPED();
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	kill_inside_command(_metadata, variant->id, HMM_DMIRROR_MIGRATE_TO_SYS, p, NULL,
			    len / self->page);
	munmap(p, len);
}

TEST_F(mem, snapshot_of_a_huge_range_ends_on_sigkill)
{
	/* Its buffer (256 MiB) is filled only as far as the command gets. */
	size_t len = 1UL << 40;
	void *p, *buf;

	SKIP_IF_SETUP_SKIPPED();
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	/* One byte a page; it is written only as far as the command gets. */
	buf = mmap(NULL, len / self->page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	kill_inside_command(_metadata, variant->id, HMM_DMIRROR_SNAPSHOT, p, buf,
			    len / self->page);
	munmap(buf, len / self->page);
	munmap(p, len);
}

/* A result buffer that is not there: nothing may move before that is known. */
static void *unmapped_buffer(size_t len)
{
	void *b = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b != MAP_FAILED)
		munmap(b, len);
	return b;
}

TEST_F(mem, migrate_with_unusable_result_buffer_is_efault_and_moves_nothing)
{
	void *bad;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 317);
	bad = unmapped_buffer(len);
	ASSERT_NE(MAP_FAILED, bad);
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, bad, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 317));
}

TEST_F(mem, exclusive_with_unusable_result_buffer_is_efault_and_changes_nothing)
{
	void *bad;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 319);
	bad = unmapped_buffer(len);
	ASSERT_NE(MAP_FAILED, bad);
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, bad, n, NULL));
	/* The device holds none of the pages. */
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, NULL, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 319));
}

TEST_HARNESS_MAIN
