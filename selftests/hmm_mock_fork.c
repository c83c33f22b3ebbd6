// SPDX-License-Identifier: GPL-2.0
/*
 * Fork and copy-on-write with device memory: each process keeps its own
 * data whether the pages were migrated before the fork or after it, and a
 * device write after fork breaks the sharing for the caller only.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

TEST_F(mem, fork_after_migration_gives_each_process_its_data)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 51);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_CHILD_READS_THEN_WRITES(p, len, 51, 53);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 51));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 51));
}

TEST_F(mem, migrating_cow_shared_pages_leaves_other_process_alone)
{
	struct hmm_dmirror_cmd cmd;
	pid_t pid;
	int go;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 57);
	/* The child checks its copy after the parent migrated and wrote its own. */
	pid = hmm_mock_fork_checker(p, len, 57, &go);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	hmm_mock_fill(buf, len, 59);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 59));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

/* A THP the child shares: a device with large folios takes it whole. */
TEST_F(mem, migrating_a_cow_shared_thp_leaves_other_process_alone)
{
	struct hmm_dmirror_cmd cmd;
	pid_t pid;
	char *p;
	int go;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(TWO_MB / self->page);
	MAP_THP_OR_SKIP(p, 71);
	pid = hmm_mock_fork_checker(p, TWO_MB, 71, &go);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, TWO_MB, 71));
	hmm_mock_fill(buf, TWO_MB, 73);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 73));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

/*
 * The same THP with no large device folio for it (none on this device, or
 * HMM_DMIRROR_FLAG_FAIL_ALLOC on one that has them): it moves page by page.
 */
TEST_F(mem, migrating_a_cow_shared_thp_without_a_large_folio_leaves_other_process_alone)
{
	struct hmm_dmirror_cmd cmd;
	pid_t pid;
	char *p;
	int go;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(TWO_MB / self->page);
	MAP_THP_OR_SKIP(p, 77);
	pid = hmm_mock_fork_checker(p, TWO_MB, 77, &go);
	ASSERT_GE(pid, 0);
	if (hmm_mock_stats(self->fd).large_folio_pages)
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
					  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	/* Single pages, each still shared with the child: read-only. */
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_READ);
	hmm_mock_fill(buf, TWO_MB, 79);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 79));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

/*
 * A large device folio the child maps too (THP_ON_DEVICE_THEN_FORK()), with
 * no THP for its way back (HMM_DMIRROR_FLAG_FAIL_ALLOC), comes back page
 * by page for both processes.
 */
TEST_F(mem, moving_a_cow_shared_device_thp_back_without_a_thp_leaves_other_process_alone)
{
	struct hmm_mock_stats st0, st1;
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	THP_ON_DEVICE_THEN_FORK(83);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use - n, st1.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_READ);
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 83));
	hmm_mock_fill(p, TWO_MB, 89);
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

/*
 * The same folio, brought back by a CPU fault that finds no THP. Unlike a
 * range migration, the fault gives it a single page and relies on the
 * kernel failing to split it after unmapping it (the fault holds a
 * reference): this guards that against a kernel that would split it.
 */
TEST_F(mem, cpu_fault_on_a_cow_shared_device_thp_without_a_thp_leaves_other_process_alone)
{
	SKIP_IF_SETUP_SKIPPED();
	THP_ON_DEVICE_THEN_FORK(97);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 97));
	/* Device-private pages came back as small pages the child shares. */
	if (!variant->coherent)
		EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_READ);
	hmm_mock_fill(p, TWO_MB, 101);
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 101));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

TEST_F(mem, device_write_after_fork_breaks_sharing_for_caller_only)
{
	pid_t pid;
	int go;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(8, 163);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	pid = hmm_mock_fork_checker(p, len, 163, &go);
	ASSERT_GE(pid, 0);
	/* fork write-protected the pages: the device must not write the shared copy. */
	hmm_mock_fill(buf, len, 167);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 167));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

TEST_F(mem, device_write_after_fork_unshares_every_page_of_a_large_range)
{
	struct hmm_dmirror_cmd cmd;
	pid_t pid;
	int go;

	SKIP_IF_SETUP_SKIPPED();
	/* More pages than a write fault once gave up after. */
	MAP_FILLED(600, 169);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	pid = hmm_mock_fork_checker(p, len, 169, &go);
	ASSERT_GE(pid, 0);
	hmm_mock_fill(buf, len, 173);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 173));
	ASSERT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);
}

TEST_HARNESS_MAIN
