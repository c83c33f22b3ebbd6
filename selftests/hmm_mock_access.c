// SPDX-License-Identifier: GPL-2.0
/*
 * Device access through the mirror: device READ and WRITE of system memory,
 * the device faults they take, invalidation, and the errors for mappings
 * the device may not write or read.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

struct device_access {
	int fd;
	void *p;
	char *buf;
	unsigned long npages;
	int ret;
};

static void *device_write(void *arg)
{
	struct device_access *a = arg;

	a->ret = hmm_mock_cmd(a->fd, HMM_DMIRROR_WRITE, a->p, a->buf, a->npages, NULL);
	return NULL;
}

/*
 * True once a device access sleeps on HMM_MOCK_INJECT's settle_delay_ms,
 * after hmm_range_fault() and before its sequence check: the device's
 * settle_sleeps went past @before. *@since is moved up to the last moment
 * the sleep had surely not begun. Gives up after 5 s.
 */
static bool device_access_settling(int fd, unsigned long long before, double *since)
{
	struct hmm_mock_stats st;

	while (hmm_mock_now() < *since + 5) {
		double now = hmm_mock_now();

		if (ioctl(fd, HMM_MOCK_STATS, &st))
			return false;
		if (st.settle_sleeps > before)
			return true;
		*since = now;
		sched_yield();
	}
	return false;
}

TEST_F(mem, device_read_returns_cpu_data_with_one_fault)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(32, 1);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 1));

	/* Now mapped on the device: no fault the second time. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 1));
}

TEST_F(mem, device_read_after_invalidation_sees_new_pages)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 1);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));

	/* Zapping the pages must drop the device's stale view of them. */
	ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED));
	hmm_mock_fill(p, len, 7);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 7));
}

TEST_F(mem, device_write_reaches_cpu)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_RANGE(16);
	memset(p, 0, len);
	hmm_mock_fill(buf, len, 3);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 3));
}

TEST_F(mem, device_write_to_read_only_mapping_is_eperm_and_changes_nothing)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(4, 5);
	ASSERT_EQ(0, mprotect(p, len, PROT_READ));
	hmm_mock_fill(buf, len, 9);
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 5));

	/* Reading is still allowed. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 5));
}

/*
 * mprotect() makes the range read-only after the device's hmm_range_fault()
 * found it writable, before the device took its lock: the sequence check
 * under that lock sees the invalidation, the access looks again and fails.
 * The device never writes what the CPU may no longer write. (The access
 * waits there for the invalidation, at most 1 s: a main thread that took
 * longer proves nothing, and the test tries again.)
 */
TEST_F(mem, device_write_racing_with_mprotect_never_writes_a_read_only_page)
{
	struct device_access w;
	struct hmm_mock_stats st;
	pthread_t writer;
	bool settled, late = true;
	double since;
	int tries;

	SKIP_IF_SETUP_SKIPPED();
	MAP_RANGE(4);
	hmm_mock_fill(buf, len, 9);
	for (tries = 0; late && tries < 3; tries++) {
		ASSERT_EQ(0, mprotect(p, len, PROT_READ | PROT_WRITE));
		hmm_mock_fill(p, len, 5);
		st = hmm_mock_stats(self->fd);
		INJECT_OR_SKIP(self->fd, .settle_delay_ms = 1000);
		w = (struct device_access){ .fd = self->fd, .p = p, .buf = buf, .npages = n };
		since = hmm_mock_now();
		ASSERT_EQ(0, pthread_create(&writer, NULL, device_write, &w));
		settled = device_access_settling(self->fd, st.settle_sleeps, &since);
		if (settled)
			EXPECT_EQ(0, mprotect(p, len, PROT_READ));
		late = hmm_mock_now() - since > 0.9;
		ASSERT_EQ(0, pthread_join(writer, NULL));
		ASSERT_TRUE(settled);
	}
	EXPECT_EQ(-EPERM, w.ret);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 5));
	EXPECT_EQ(0, hmm_mock_inject(self->fd, HMM_MOCK_KNOBS(0)));
}

TEST_F(mem, device_read_of_inaccessible_mapping_is_efault)
{
	void *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(2);
	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, 2, NULL));
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 2, NULL));
}

/*
 * The device copies straight into the caller's buffer. A buffer that needs
 * a fault is faulted in without being written first: here it is the range
 * itself, on the device, and a byte written ahead of the copy would be a
 * byte of the data.
 */
TEST_F(mem, device_read_into_its_own_range_keeps_the_data)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(32, 4);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, p, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 4));
}

/*
 * The second page's data starts in the buffer's last readable page and
 * ends in an unreadable one: the write fails and that page keeps all of
 * its old data, not half of it.
 */
TEST_F(mem, device_write_from_a_buffer_ending_mid_page_writes_no_page_it_cannot_read)
{
	char *src;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(2, 6);
	src = mmap(NULL, 3 * self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, (void *)src);
	ASSERT_EQ(0, mprotect(src + 2 * self->page, self->page, PROT_NONE));
	hmm_mock_fill(src, 2 * self->page, 9);
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, src + self->page / 2,
					n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p + self->page, self->page, 6 + (int)(self->page / 4)));
	munmap(src, 3 * self->page);
}

TEST_HARNESS_MAIN
