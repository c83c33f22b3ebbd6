// SPDX-License-Identifier: GPL-2.0
/*
 * What each kind of mapping does under migration and mirroring: the zero
 * page, shared anonymous memory, shared and private file mappings,
 * transparent huge pages, hugetlb, a mapping of the device node, and the
 * userfaultfd write protection of a range.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

/* A memfd of @len bytes holding pattern @seed, or -1. */
static int make_file(size_t len, int seed)
{
	int fd = memfd_create("hmm-mock", 0);
	void *data = malloc(len);

	if (fd < 0 || !data)
		return -1;
	hmm_mock_fill(data, len, seed);
	if (pwrite(fd, data, len, 0) != (ssize_t)len) {
		close(fd);
		fd = -1;
	}
	free(data);
	return fd;
}

/*
 * @p gets a @flags (MAP_SHARED or MAP_PRIVATE) mapping of @len bytes of a
 * new memfd, @file, holding pattern @seed.
 */
#define MAP_MEMFD(p, file, len, seed, flags) do {				\
	(file) = make_file(len, seed);						\
	ASSERT_GE((file), 0);							\
	(p) = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, file, 0);		\
	ASSERT_NE(MAP_FAILED, (p));						\
} while (0)

TEST_F(mem, read_only_zero_page_migrates_read_only)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(4);
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, READ_ONCE(p[i * self->page]));	/* maps the zero page */
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_READ);
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	for (i = 0; i < len; i++)
		ASSERT_EQ(0, p[i]);
}

TEST_F(mem, shared_anonymous_memory_stays_in_system_memory)
{
	void *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(8);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 23);
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 23));
	/* The device still reads it in place. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 23));
}

TEST_F(mem, shared_file_pages_are_mirrored_not_migrated)
{
	void *p;
	int file;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(8);
	MAP_MEMFD(p, file, len, 29, MAP_SHARED);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 29));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	hmm_mock_fill(buf, len, 37);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	ASSERT_EQ((ssize_t)len, pread(file, buf, len, 0));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 37));
	close(file);
}

TEST_F(mem, private_file_mapping_migrates_its_copies_only)
{
	struct hmm_dmirror_cmd cmd;
	void *p;
	int file;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(8);
	MAP_MEMFD(p, file, len, 41, MAP_PRIVATE);
	hmm_mock_fill(p, len, 43);	/* private copies of every page */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 43));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 43));
	ASSERT_EQ((ssize_t)len, pread(file, buf, len, 0));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 41));
	close(file);
}

TEST_F(mem, thp_range_migrates_and_returns_intact)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char huge = 0;
	void *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(TWO_MB / self->page);
	MAP_THP_OR_SKIP(p, 61);
	/* A device with large folios keeps the THP whole (hmm_mock_thp.c). */
	if (hmm_mock_stats(self->fd).large_folio_pages)
		huge = HMM_DMIRROR_PROT_PMD;
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, TWO_MB, 61));
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE | huge);
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 61));
}

/* Never touched, a whole PMD: the kernel may offer it as one huge hole. */
TEST_F(mem, untouched_thp_range_migrates_as_zeroed_pages)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char huge = 0;
	unsigned long i;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(TWO_MB / self->page);
	p = map_huge();
	ASSERT_NE(MAP_FAILED, (void *)p);
	if (hmm_mock_stats(self->fd).large_folio_pages)
		huge = HMM_DMIRROR_PROT_PMD;
	memset(buf, 0x55, TWO_MB);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE | huge);
	for (i = 0; i < TWO_MB; i++) {
		ASSERT_EQ(0, buf[i]);
		ASSERT_EQ(0, p[i]);
	}
}

TEST_F(mem, hugetlb_range_is_mirrored_but_not_migrated)
{
	struct hmm_dmirror_cmd cmd;
	void *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(TWO_MB / self->page);
	self->saved_hugepages = read_long(NR_HUGEPAGES);
	if (self->saved_hugepages < 1)
		write_long(NR_HUGEPAGES, 1);
	p = mmap(NULL, TWO_MB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb page available");
	hmm_mock_fill(p, TWO_MB, 67);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, TWO_MB, 67));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 67));
	munmap(p, TWO_MB);
}

TEST_F(mem, device_node_mmap_gives_zeroed_copy_on_write_pages)
{
	unsigned long n = 4, i;
	size_t len = n * self->page;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_READ);
	for (i = 0; i < len; i++)
		ASSERT_EQ(0, p[i]);
	hmm_mock_fill(p, len, 149);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 149));
	munmap(p, len);
}

/* How many of the @n pages at @p /proc/self/pagemap shows @bit on, or -1. */
static long pagemap_count(const void *p, unsigned long n, size_t page, uint64_t bit)
{
	uint64_t *pm = calloc(n, sizeof(*pm));
	long count = -1;
	unsigned long i;

	if (pm && !hmm_mock_pagemap(p, n, page, pm))
		for (count = 0, i = 0; i < n; i++)
			count += !!(pm[i] & bit);
	free(pm);
	return count;
}

/* Write-protects @len bytes at @p through userfaultfd @uffd: 0 or -1. */
static int uffd_write_protect(int uffd, void *p, size_t len)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	return ioctl(uffd, UFFDIO_WRITEPROTECT, &wp);
}

/*
 * Catalogue B2 (5.9): the uffd-wp bit of every page survives migration
 * to the device and back; a page that lost it would take a write without
 * telling the userfaultfd's handler.
 */
TEST_F(mem, userfaultfd_write_protection_survives_a_round_trip_through_the_device)
{
	int uffd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 167);
	uffd = hmm_mock_uffd_register(p, len, UFFDIO_REGISTER_MODE_WP);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, uffd_write_protect(uffd, p, len)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ((long)n, pagemap_count(p, n, self->page, PM_UFFD_WP));

	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* Write-protected on the device too. */
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_READ);
	EXPECT_EQ((long)n, pagemap_count(p, n, self->page, PM_UFFD_WP)) TH_LOG("on the device");

	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, NULL));
	EXPECT_EQ((long)n, pagemap_count(p, n, self->page, PM_UFFD_WP)) TH_LOG("back in memory");
	EXPECT_EQ(-1, hmm_mock_check(p, len, 167));
	close(uffd);
}

TEST_HARNESS_MAIN
