// SPDX-License-Identifier: GPL-2.0
/*
 * Large device folios: a THP migrates to the device as one PMD-order
 * device folio and comes back as a THP, by MIGRATE_TO_SYS and by a CPU
 * fault; partial munmap splits it; HMM_DMIRROR_FLAG_FAIL_ALLOC forces the
 * single-page fallback; fork; and the free lists stay balanced. Kernels
 * (or memory kinds) without large device folios skip every test.
 */
#include <stdbool.h>
#include <stdint.h>
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

TEST_HARNESS_MAIN
