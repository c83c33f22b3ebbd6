// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory accounting: the free lists balance, unmapping frees device
 * pages, running out of device memory leaves the rest in system memory, and
 * HMM_DMIRROR_FLAG_FAIL_ALLOC fails exactly one migration.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

TEST_F(mem, partial_unmap_frees_device_pages_and_keeps_the_rest)
{
	unsigned long n = 16;
	size_t len = n * self->page, quarter = len / 4;
	char *p;
	void *buf;
	struct hmm_mock_stats st1, st2;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(p, buf, len, 71);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	st1 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, munmap(p + quarter, 2 * quarter));
	st2 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st1.pages_in_use - n / 2, st2.pages_in_use);
	EXPECT_EQ(st1.page_frees + n / 2, st2.page_frees);
	EXPECT_EQ(st2.pages_total, st2.pages_free + st2.pages_in_use);
	EXPECT_EQ(-1, hmm_mock_check(p, quarter, 71));
	EXPECT_EQ(-1, hmm_mock_check(p + 3 * quarter, quarter,
				     71 + (int)(3 * quarter / sizeof(int))));
	free(buf);
}

TEST_F(mem, exhausted_device_memory_leaves_the_rest_in_system_memory)
{
	struct hmm_mock_stats st0, st1;
	unsigned long n, i, on_device = 0;
	unsigned char *m;
	size_t len;
	void *p, *buf;

	SKIP_IF_SETUP_SKIPPED();
	/* Have at least one chunk, then forbid growing beyond what exists. */
	p = map_small(self->page);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, p, 1, NULL));
	ASSERT_EQ(0, munmap(p, self->page));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_LT(0UL, st0.pages_total);
	self->saved_cap = read_long(DEVMEM_CAP);
	ASSERT_LT(0, self->saved_cap);
	ASSERT_EQ(0, write_long(DEVMEM_CAP, st0.pages_total * self->page >> 20));

	n = st0.pages_total - st0.pages_in_use + 64;
	len = n * self->page;
	m = malloc(n);
	MAP_FILLED(p, buf, len, 137);
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.chunks, st1.chunks);
	EXPECT_EQ(st1.pages_total, st1.pages_in_use);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, m, n, NULL));
	for (i = 0; i < n; i++)
		on_device += (m[i] & 0xf0) == local_prot(variant);
	EXPECT_EQ(st0.pages_total - st0.pages_in_use, on_device);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 137));
	free(m);
	free(buf);
}

TEST_F(mem, fail_alloc_flag_fails_exactly_one_migration)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p, *buf;
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(p, buf, len, 139);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 139));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 139));
	free(buf);
}

TEST_F(mem, free_list_accounting_balances)
{
	unsigned long n = 32;
	size_t len = n * self->page;
	void *p, *buf;
	struct hmm_mock_stats st0, st1, st2;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(p, buf, len, 151);
	st0 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_total, st0.pages_free + st0.pages_in_use);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st1.pages_total, st1.pages_free + st1.pages_in_use);
	EXPECT_EQ(st0.pages_in_use + n, st1.pages_in_use);
	ASSERT_EQ(0, munmap(p, len));
	st2 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st2.pages_total, st2.pages_free + st2.pages_in_use);
	EXPECT_EQ(st0.pages_in_use, st2.pages_in_use);
	EXPECT_EQ(st1.page_frees + n, st2.page_frees);
	free(buf);
}

TEST_HARNESS_MAIN
