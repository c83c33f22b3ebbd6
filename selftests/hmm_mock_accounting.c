// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory accounting: the free lists balance, unmapping frees device
 * pages, KSM takes none, running out of device memory leaves the rest in
 * system memory, and HMM_DMIRROR_FLAG_FAIL_ALLOC fails exactly one
 * migration.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

#define KSM_FULL_SCANS	"/sys/kernel/mm/ksm/full_scans"

TEST_F(mem, partial_unmap_frees_device_pages_and_keeps_the_rest)
{
	struct hmm_mock_stats st1, st2;
	size_t quarter;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 71);
	quarter = len / 4;
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
}

/*
 * Catalogue D1: vm_normal_page() returns device-coherent pages, which are
 * not on the LRU, and every caller must leave them alone. KSM, running
 * over device pages of equal content, merges none of them: each keeps its
 * one mapping and reference. Two system pages of the same content are the
 * control: KSM merges them, or the test could not tell.
 */
TEST_F(mem, ksm_merges_no_device_pages)
{
	struct hmm_mock_page_info *info;
	long scans;
	unsigned long i;
	double deadline;
	char *ctl;

	SKIP_IF_SETUP_SKIPPED();
	MAP_RANGE(16);
	ctl = map_small(2 * self->page);
	ASSERT_NE(MAP_FAILED, ctl);
	memset(p, 0x5a, len);
	memset(ctl, 0x5a, 2 * self->page);
	if (madvise(p, len, MADV_MERGEABLE))
		SKIP(return, "MADV_MERGEABLE: %s (CONFIG_KSM)", strerror(errno));
	if (access(KSM_RUN, W_OK))
		SKIP(return, "KSM settings need root (%s)", KSM_RUN);
	ASSERT_EQ(0, madvise(ctl, 2 * self->page, MADV_MERGEABLE));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));

	/* The teardown puts KSM back as it was, also after a failed ASSERT. */
	self->saved_ksm_run = read_long(KSM_RUN);
	self->saved_ksm_sleep = read_long(KSM_SLEEP);
	scans = read_long(KSM_FULL_SCANS);
	ASSERT_TRUE(self->saved_ksm_run >= 0 && self->saved_ksm_sleep >= 0 && scans >= 0);
	ASSERT_EQ(0, write_long(KSM_SLEEP, 10));
	ASSERT_EQ(0, write_long(KSM_RUN, 1));
	/* A page merges in its second scan at the earliest. */
	deadline = hmm_mock_now() + 15;
	while (read_long(KSM_FULL_SCANS) < scans + 3 && hmm_mock_now() < deadline)
		usleep(10000);
	EXPECT_LE(scans + 3, read_long(KSM_FULL_SCANS));
	ASSERT_EQ(0, write_long(KSM_RUN, self->saved_ksm_run));

	info = PAGE_INFO(self->fd, ctl, 2);
	EXPECT_EQ(info[0].pfn, info[1].pfn) TH_LOG("control pages not merged: KSM did not run");
	free(info);
	info = PAGE_INFO(self->fd, p, n);
	EXPECT_DEVICE_PAGES(info, n, variant->id, 1);
	free(info);
	for (i = 0; i < len && p[i] == 0x5a; i++)
		;
	EXPECT_EQ(len, i) TH_LOG("byte %lu lost", i);
	munmap(ctl, 2 * self->page);
}

TEST_F(mem, exhausted_device_memory_leaves_the_rest_in_system_memory)
{
	struct hmm_mock_stats st0, st1;
	unsigned long i, on_device = 0;
	unsigned char *m;
	void *first;

	SKIP_IF_SETUP_SKIPPED();
	/* Have at least one chunk, then forbid growing beyond what exists. */
	first = map_small(self->page);
	ASSERT_NE(MAP_FAILED, first);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, first, first, 1, NULL));
	ASSERT_EQ(0, munmap(first, self->page));
	st0 = hmm_mock_stats(self->fd);
	ASSERT_LT(0UL, st0.pages_total);
	self->saved_cap = read_long(DEVMEM_CAP);
	ASSERT_LT(0, self->saved_cap);
	ASSERT_EQ(0, write_long(DEVMEM_CAP, st0.pages_total * self->page >> 20));

	MAP_FILLED(st0.pages_total - st0.pages_in_use + 64, 137);
	m = malloc(n);
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
}

/* Inside one PMD, which the migration takes in one window. */
TEST_F(mem, fail_alloc_flag_fails_exactly_one_migration)
{
	struct hmm_dmirror_cmd cmd;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(8);
	p = map_huge();
	ASSERT_NE(MAP_FAILED, (void *)p);
	ASSERT_EQ(0, madvise(p, TWO_MB, MADV_NOHUGEPAGE));
	hmm_mock_fill(p, len, 139);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
				  HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 139));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 139));
}

TEST_F(mem, free_list_accounting_balances)
{
	struct hmm_mock_stats st0, st1, st2;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(32, 151);
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
}

TEST_HARNESS_MAIN
