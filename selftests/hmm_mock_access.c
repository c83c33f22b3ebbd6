// SPDX-License-Identifier: GPL-2.0
/*
 * Device access through the mirror: device READ and WRITE of system memory,
 * the device faults they take, invalidation, and the errors for mappings
 * the device may not write or read.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

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

TEST_HARNESS_MAIN
