// SPDX-License-Identifier: GPL-2.0
/*
 * Device-exclusive access (HMM_DMIRROR_EXCLUSIVE): CPU access revokes it,
 * mprotect and fork end it, an unmapped range fails, RELEASE frees the
 * device pages it covered, transparent huge pages behave as the lane
 * declares, and a failure part-way leaves no page exclusive.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

/*
 * Device-exclusive entries exist only in kernels built with
 * CONFIG_DEVICE_PRIVATE; elsewhere EXCLUSIVE is -EOPNOTSUPP.
 */
static bool kernel_has_exclusive(int fd, size_t page)
{
	void *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool has;

	if (p == MAP_FAILED)
		return true;	/* let the test itself fail */
	memset(p, 1, page);
	has = hmm_mock_cmd(fd, HMM_DMIRROR_EXCLUSIVE, p, (char *)p + page, 1, NULL) != -EOPNOTSUPP;
	munmap(p, 2 * page);
	return has;
}

#define SKIP_WITHOUT_EXCLUSIVE() do {						\
	if (!kernel_has_exclusive(self->fd, self->page))			\
		SKIP(return, "kernel without device-exclusive entries (CONFIG_DEVICE_PRIVATE=n)"); \
} while (0)

TEST_F(mem, exclusive_access_is_revoked_by_cpu_write)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	MAP_FILLED(8, 83);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 83));
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));

	hmm_mock_fill(p, len, 89);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 89));
}

TEST_F(mem, exclusive_then_read_only_blocks_device_write)
{
	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	MAP_FILLED(8, 97);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL));
	ASSERT_EQ(0, mprotect(p, len, PROT_READ));
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	hmm_mock_fill(buf, len, 101);
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 97));
}

TEST_F(mem, exclusive_then_fork_gives_child_its_own_copy)
{
	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	MAP_FILLED(8, 103);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL));
	EXPECT_CHILD_READS_THEN_WRITES(p, len, 103, 107);
	/* fork made the parent's pages ordinary again to share them. */
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 103));
}

/*
 * The report of what the device holds may go into the range itself: the
 * device's view is read before the buffer's fault takes the access back.
 */
TEST_F(mem, exclusive_reported_into_its_own_range_succeeds_with_the_data)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	MAP_FILLED(8, 109);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, p, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 109));
}

TEST_F(mem, exclusive_on_unmapped_range_fails_efault)
{
	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	MAP_RANGE(2);
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, 2, NULL));
}

/*
 * Before 6.15 a device-exclusive entry does not count as a mapping, and
 * eviction took an exclusive device-coherent page for unmapped: the page
 * stayed on the device for good (and on 6.12-debug KASAN reported a
 * use-after-free of its anon_vma). There the driver moves coherent pages
 * to system memory before making them exclusive.
 */
TEST_F(mem, exclusive_device_pages_are_released_with_their_data)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	MAP_FILLED(8, 149);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	ASSERT_EQ(n, cmd.cpages);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 149));

	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, p, buf, n, NULL));
	EXPECT_EQ(0UL, hmm_mock_stats(self->fd).pages_in_use);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 149));
	hmm_mock_fill(p, len, 151);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 151));
}

/*
 * Exclusive access to pages of a transparent huge page. make_device_exclusive()
 * handles large folios since its 6.15 rework; make_device_exclusive_range()
 * before it refuses a PTE-mapped THP with -EBUSY. The other exclusive tests
 * avoid THPs; this one pins the kernel's behaviour down: the lane declares it
 * in HMM_MOCK_EXPECT_EXCLUSIVE_THP ("ok" or "ebusy") and the test holds the
 * driver and kernel to it.
 */
TEST_F(mem, exclusive_on_thp_behaves_as_the_lane_declares)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_EXCLUSIVE_THP");
	struct hmm_dmirror_cmd cmd;
	void *p;
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_EXCLUSIVE_THP is not declared for this kernel");
	DEVICE_BUF(8);
	MAP_THP_OR_SKIP(p, 137);
	ASSERT_EQ(0, keep_khugepaged_off(p));

	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, &cmd);
	if (!strcmp(expect, "ebusy")) {
		EXPECT_EQ(-EBUSY, ret);
		EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	} else {
		ASSERT_STREQ("ok", expect);
		ASSERT_EQ(0, ret);
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1, hmm_mock_check(buf, len, 137));
		EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n,
						NULL));
	}
	/* Either way the CPU sees its data, and takes its access back. */
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 137));
	hmm_mock_fill(p, len, 139);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
}

/*
 * EXCLUSIVE is all or nothing, also when it fails part-way through the
 * pages it handles together: a range of small pages ending in a THP is
 * exclusive throughout where the lane declares "ok", and nowhere where
 * the THP makes it fail ("ebusy"), the small pages before it included.
 */
TEST_F(mem, exclusive_over_small_pages_and_a_thp_is_all_or_nothing)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_EXCLUSIVE_THP");
	struct hmm_dmirror_cmd cmd;
	unsigned char prot;
	char *map, *thp, *p;
	unsigned long i;
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	SKIP_WITHOUT_EXCLUSIVE();
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_EXCLUSIVE_THP is not declared for this kernel");
	ASSERT_TRUE(!strcmp(expect, "ebusy") || !strcmp(expect, "ok"));
	DEVICE_BUF(8);
	map = mmap(NULL, 3 * TWO_MB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, (void *)map);
	thp = (char *)(((uintptr_t)map + 2 * TWO_MB - 1) & ~(TWO_MB - 1));
	ASSERT_EQ(0, madvise(thp - TWO_MB, TWO_MB, MADV_NOHUGEPAGE));
	ASSERT_EQ(0, madvise(thp, TWO_MB, MADV_HUGEPAGE));
	p = thp - len / 2;
	hmm_mock_fill(p, len / 2 + TWO_MB, 157);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, thp, &prot, 1, NULL));
	if (!(prot & HMM_DMIRROR_PROT_PMD))
		SKIP(return, NO_THP);
	ASSERT_EQ(0, keep_khugepaged_off(thp));

	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, &cmd);
	if (!strcmp(expect, "ebusy")) {
		EXPECT_EQ(-EBUSY, ret);
		EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	} else {
		ASSERT_EQ(0, ret);
		EXPECT_EQ(n, cmd.cpages);
		EXPECT_EQ(-1, hmm_mock_check(buf, len, 157));
		for (i = 0; i < n; i++)
			EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
							p + i * self->page, buf, 1, NULL));
	}
	EXPECT_EQ(-1, hmm_mock_check(p, len, 157));
	munmap(map, 3 * TWO_MB);
}

TEST_HARNESS_MAIN
