// SPDX-License-Identifier: GPL-2.0
/*
 * Device pages under the rest of memory management: a memory cgroup's
 * charges, reclaim to swap, NUMA page migration and memory offlining, each
 * with part of the range on the device or held exclusively by it.
 * They need what vm/run gives the lane's VM (cgroup v2 always; --swap,
 * --numa, --movable where the lane has them) and SKIP, with the reason,
 * where it is missing: lanes declare those skips.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif
#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE	(1 << 1)
#endif

/*
 * Charges a memory cgroup may hold beyond its pages: per-CPU stock (64
 * pages a CPU), pages in per-CPU LRU batches, page tables.
 */
#define MEMCG_SLACK	(3L << 20)

/*
 * Makes a child cgroup under CGROUP_ROOT and moves the test into it (the
 * teardown moves it back and removes it); SKIPs without cgroup v2's memory
 * controller.
 */
#define JOIN_MEMCG_OR_SKIP() do {						\
	char _path[128], _ctl[256] = "";					\
	FILE *_f = fopen(CGROUP_ROOT "/cgroup.subtree_control", "r");		\
										\
	if (_f) {								\
		if (!fgets(_ctl, sizeof(_ctl), _f))				\
			_ctl[0] = '\0';						\
		fclose(_f);							\
	}									\
	if (!strstr(_ctl, "memory"))						\
		SKIP(return, "no cgroup v2 memory controller at " CGROUP_ROOT);	\
	if (access(CGROUP_ROOT "/cgroup.procs", W_OK))				\
		SKIP(return, "making cgroups needs root");			\
	snprintf(self->cgroup, sizeof(self->cgroup), CGROUP_ROOT "/hmm-mock-%d", getpid()); \
	ASSERT_EQ(0, mkdir(self->cgroup, 0755));				\
	snprintf(_path, sizeof(_path), "%s/cgroup.procs", self->cgroup);	\
	ASSERT_EQ(0, write_long(_path, getpid()));				\
} while (0)

/* The test's cgroup's memory.current in bytes (ASSERTs). */
#define MEMCG_CURRENT() ({							\
	char _path[128];							\
	long _v;								\
										\
	snprintf(_path, sizeof(_path), "%s/memory.current", self->cgroup);	\
	_v = read_long(_path);							\
	ASSERT_LE(0, _v);							\
	_v;									\
})

/* Skips unless the system has swap space. */
#define SWAP_OR_SKIP() do {							\
	char _line[256];							\
	int _devices = -1;							\
	FILE *_f = fopen("/proc/swaps", "r");					\
										\
	while (_f && fgets(_line, sizeof(_line), _f))				\
		_devices++;							\
	if (_f)									\
		fclose(_f);							\
	if (_devices < 1)							\
		SKIP(return, "no swap (vm/run --swap, vm-features.config)");	\
} while (0)

/*
 * Pagemap entry @pm is a page in swap. Pagemap shows device-private and
 * device-exclusive entries as swap entries too, of types above the swap
 * devices'; the VM's one swap device is type 0.
 */
static bool in_swap(uint64_t pm)
{
	return (pm & (PM_SWAP | PM_PRESENT)) == PM_SWAP && PM_SWAP_TYPE(pm) == 0;
}

/* Pages among @n at @p that are in swap. */
static unsigned long swapped_pages(const char *p, unsigned long n, size_t page)
{
	uint64_t *pm = calloc(n, sizeof(*pm));
	unsigned long i, swapped = 0;

	if (pm && !hmm_mock_pagemap(p, n, page, pm))
		for (i = 0; i < n; i++)
			swapped += in_swap(pm[i]);
	free(pm);
	return swapped;
}

/*
 * Inside a memory cgroup, a migration round trip with one page in 64 held
 * by a pipe (so part of it fails), then half the range migrated to the
 * device and the other half written by it: when the range is unmapped, the
 * cgroup is back where it started (catalogue A7's recipe: folios a device migration frees
 * are uncharged like any other, and the device keeps no page).
 */
TEST_F(mem, device_work_in_a_memory_cgroup_gives_back_every_charge)
{
	long base, on_device, after;
	struct iovec iov;
	unsigned long i;
	int pipefd[2];

	SKIP_IF_SETUP_SKIPPED();
	JOIN_MEMCG_OR_SKIP();
	MAP_RANGE(4096);
	memset(buf, 0, len);
	base = MEMCG_CURRENT();
	hmm_mock_fill(p, len, 11);
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_LT(0, fcntl(pipefd[1], F_SETPIPE_SZ, (int)(n / 64 * self->page)));
	for (i = 0; i < n; i += 64) {
		iov.iov_base = p + i * self->page;
		iov.iov_len = self->page;
		ASSERT_EQ((ssize_t)self->page, vmsplice(pipefd[1], &iov, 1, 0));
	}

	/* -ENOENT: not every page moved. */
	ASSERT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	on_device = MEMCG_CURRENT();
	TH_LOG("memory.current: %ld KiB before, %ld KiB with the range on the device",
	       base >> 10, on_device >> 10);
	close(pipefd[0]);
	close(pipefd[1]);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 11));
	/* The unmap frees device pages and system pages the device wrote. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n / 2, NULL));
	hmm_mock_fill(buf, len / 2, 12);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p + len / 2, buf, n / 2, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p + len / 2, len / 2, 12));
	ASSERT_EQ(0, munmap(p, len));
	after = MEMCG_CURRENT();
	EXPECT_GE(base + MEMCG_SLACK, after)
		TH_LOG("%ld KiB still charged after the unmap", (after - base) >> 10);
}

/*
 * Catalogue E3 (6.15): pages the device holds exclusively stay reclaimable.
 * The cgroup's memory.reclaim swaps them out, which revokes the device's
 * access, and the CPU reads its data back from swap.
 */
TEST_F(mem, exclusive_pages_are_reclaimed_to_swap)
{
	unsigned long i, swapped = 0;
	char path[128];
	uint64_t *pm;
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	SWAP_OR_SKIP();
	JOIN_MEMCG_OR_SKIP();
	MAP_FILLED(2048, 13);
	pm = calloc(n, sizeof(*pm));
	ASSERT_NE(NULL, pm);
	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL);
	if (ret == -EOPNOTSUPP)
		SKIP(return, "kernel without device-exclusive entries (CONFIG_DEVICE_PRIVATE=n)");
	ASSERT_EQ(0, ret);

	snprintf(path, sizeof(path), "%s/memory.reclaim", self->cgroup);
	ret = write_str(path, "64M");
	ASSERT_TRUE(ret == 0 || ret == -EAGAIN) TH_LOG("memory.reclaim: %s", strerror(-ret));
	ASSERT_EQ(0, hmm_mock_pagemap(p, n, self->page, pm));
	for (i = 0; i < n; i++) {
		if (!in_swap(pm[i]))
			continue;
		swapped++;
		/* 0: the device no longer holds the page exclusively. */
		EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE,
					  p + i * self->page, buf, 1, NULL)) TH_LOG("page %lu", i);
	}
	EXPECT_LE(n * 3 / 4, swapped) TH_LOG("%lu of %lu exclusive pages swapped out", swapped, n);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 13));
	free(pm);
}

/*
 * Half the range on the device, the other half paged out: the device's
 * half stays where it is, and the device and the CPU each read the whole
 * range back intact.
 */
TEST_F(mem, a_range_half_on_the_device_and_half_in_swap_reads_back_whole)
{
	struct hmm_mock_page_info *info;
	unsigned long swapped;

	SKIP_IF_SETUP_SKIPPED();
	SWAP_OR_SKIP();
	MAP_FILLED(512, 17);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n / 2, NULL));
	ASSERT_EQ(0, madvise(p, len, MADV_PAGEOUT));
	swapped = swapped_pages(p + len / 2, n / 2, self->page);
	EXPECT_LE(n / 4, swapped) TH_LOG("%lu of %lu system pages swapped out", swapped, n / 2);
	info = PAGE_INFO(self->fd, p, n / 2);
	EXPECT_DEVICE_PAGES(info, n / 2, variant->id, 1);
	free(info);

	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 17));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 17));
}

/* The NUMA node of system page @p (move_pages() query), or -errno. */
static int page_node(void *p)
{
	int status = -1;

	if (syscall(__NR_move_pages, 0, 1UL, &p, NULL, &status, 0))
		return -errno;
	return status;
}

/*
 * move_pages() over a range half on the device moves the system half to
 * another node and leaves the device half alone: each device page reports
 * -ENOENT, keeps its one reference and mapping (catalogue D1: the 6.1
 * query path leaked a reference to device-coherent pages) and its data.
 */
TEST_F(mem, move_pages_moves_the_system_half_and_leaves_device_pages_alone)
{
	struct hmm_mock_page_info *info;
	int *nodes, *status, to;
	unsigned long i;
	void **pages;

	SKIP_IF_SETUP_SKIPPED();
	if (access("/sys/devices/system/node/node1", F_OK))
		SKIP(return, "one NUMA node (vm/run --numa, vm-features.config)");
	MAP_FILLED(64, 19);
	pages = calloc(n, sizeof(*pages));
	nodes = calloc(n, sizeof(*nodes));
	status = calloc(n, sizeof(*status));
	ASSERT_TRUE(pages && nodes && status);
	to = page_node(p + len / 2) == 0 ? 1 : 0;
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n / 2, NULL));
	for (i = 0; i < n; i++) {
		pages[i] = p + i * self->page;
		nodes[i] = to;
	}

	ASSERT_EQ(0, syscall(__NR_move_pages, 0, n, pages, NULL, status, 0));
	for (i = 0; i < n / 2; i++)
		ASSERT_EQ(-ENOENT, status[i]) TH_LOG("query, device page %lu", i);
	ASSERT_EQ(0, syscall(__NR_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE));
	for (i = 0; i < n; i++)
		ASSERT_EQ(i < n / 2 ? -ENOENT : to, status[i]) TH_LOG("move, page %lu", i);

	info = PAGE_INFO(self->fd, p, n / 2);
	EXPECT_DEVICE_PAGES(info, n / 2, variant->id, 1);
	free(info);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 19));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 19));
	free(pages);
	free(nodes);
	free(status);
}

static void on_alarm(int sig)
{
}

/* Writes @what to memory block @block's state, giving up after @secs. */
static int memory_block_set(long block, const char *what, unsigned int secs)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;	/* no SA_RESTART */
	char path[128];
	int ret;

	snprintf(path, sizeof(path), MEMORY_BLOCKS "/memory%ld/state", block);
	sigaction(SIGALRM, &sa, &old);
	alarm(secs);
	ret = write_str(path, what);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	return ret;
}

static unsigned long long memory_block_bytes(void)
{
	unsigned long long size = 0;
	FILE *f = fopen(MEMORY_BLOCKS "/block_size_bytes", "r");

	if (f) {
		if (fscanf(f, "%llx", &size) != 1)
			size = 0;
		fclose(f);
	}
	return size;
}

#define KPF_LRU		(1ULL << 5)
#define KPF_SWAPCACHE	(1ULL << 13)
#define KPF_RESERVED	(1ULL << 32)
#define KPF_LEAKED_THP	(KPF_ANON | KPF_LRU | KPF_COMPOUND_HEAD | KPF_THP)

/* @pages entries of @file (/proc/kpageflags, kpagecount) from @pfn, or NULL. */
static uint64_t *kpages(const char *file, uint64_t pfn, size_t pages)
{
	uint64_t *v = calloc(pages, sizeof(*v));
	int fd = open(file, O_RDONLY);
	ssize_t got = v && fd >= 0 ? pread(fd, v, pages * sizeof(*v), pfn * sizeof(*v)) : -1;

	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)(pages * sizeof(*v))) {
		free(v);
		v = NULL;
	}
	return v;
}

/*
 * Memory block @block can be offlined but for what user space put there:
 * it is in ZONE_MOVABLE, one System RAM range of /proc/iomem covers it
 * (offlining refuses a block with holes, as the BIOS's tables leave at the
 * top of memory), no page of it is reserved (boot-time allocations, such
 * as a node's memmap at its top, end up in ZONE_MOVABLE too), and it holds
 * no THP of anonymous memory that nothing maps (not even the swap cache):
 * one some earlier program leaked (catalogue H1, 6.x) keeps the block from
 * going offline whatever the device does. Reported once a block, on
 * stderr: a test's stdout may be lost when it ends (the 6.1 harness).
 */
static bool memory_block_offlinable(long block, unsigned long long size)
{
	unsigned long long start = block * size, end = start + size - 1, a, b;
	size_t pages = size / sysconf(_SC_PAGESIZE), i = 0;
	static bool reported[256];
	uint64_t *flags = NULL, *count = NULL;
	char path[128], line[256] = "";
	bool covered = false, ok;
	FILE *f;

	snprintf(path, sizeof(path), MEMORY_BLOCKS "/memory%ld/valid_zones", block);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (strncmp(line, "Movable", 7))
		return false;
	f = fopen("/proc/iomem", "r");
	while (f && !covered && fgets(line, sizeof(line), f))
		covered = line[0] != ' ' && strstr(line, ": System RAM") &&
			  sscanf(line, "%llx-%llx", &a, &b) == 2 && a <= start && end <= b;
	if (f)
		fclose(f);
	if (covered) {
		flags = kpages("/proc/kpageflags", start / (size / pages), pages);
		count = kpages("/proc/kpagecount", start / (size / pages), pages);
	}
	for (; flags && count && i < pages; i++) {
		if (flags[i] & KPF_RESERVED)
			break;
		if ((flags[i] & (KPF_LEAKED_THP | KPF_SWAPCACHE)) == KPF_LEAKED_THP && !count[i]) {
			if (!reported[block % 256])
				fprintf(stderr, "# memory%ld: pfn %#llx is a THP nothing maps (kpageflags %#llx)\n",
					block, start / (size / pages) + i,
					(unsigned long long)flags[i]);
			reported[block % 256] = true;
			break;
		}
	}
	ok = flags && count && i == pages;
	free(flags);
	free(count);
	return ok;
}

/*
 * Memory blocks of the frames the @n pages at @p map: present pages, and
 * the frames device-private and device-exclusive entries name (swap-type
 * entries of types above the VM's one swap device's, 0); -1 for others.
 */
static long *memory_blocks_of(const char *p, unsigned long n, size_t page)
{
	unsigned long long size = memory_block_bytes();
	uint64_t *pm = calloc(n, sizeof(*pm));
	long *block = calloc(n, sizeof(*block));
	unsigned long i;

	if (!size || !pm || !block || hmm_mock_pagemap(p, n, page, pm)) {
		free(block);
		block = NULL;
	}
	for (i = 0; block && i < n; i++) {
		block[i] = -1;
		if ((pm[i] & PM_PRESENT) && (pm[i] & PM_PFN_MASK))
			block[i] = (pm[i] & PM_PFN_MASK) * page / size;
		else if ((pm[i] & PM_SWAP) && PM_SWAP_TYPE(pm[i]))
			block[i] = PM_SWAP_OFFSET(pm[i]) * page / size;
	}
	free(pm);
	return block;
}

/* How many of @n entries of @blocks are @block. */
static unsigned long count_block(const long *blocks, unsigned long n, long block)
{
	unsigned long i, count = 0;

	for (i = 0; i < n; i++)
		count += blocks[i] == block;
	return count;
}

/*
 * The offlinable memory block holding most of the @n pages at @p, or -1;
 * their number in @most.
 */
static long offlinable_block_of(const char *p, unsigned long n, size_t page, unsigned long *most)
{
	unsigned long long size = memory_block_bytes();
	long *blocks = memory_blocks_of(p, n, page), best = -1, seen[64];
	unsigned long i, count, nseen = 0, k;

	*most = 0;
	for (i = 0; blocks && i < n; i++) {
		for (k = 0; k < nseen && seen[k] != blocks[i]; k++)
			;
		if (blocks[i] < 0 || k < nseen)
			continue;
		if (nseen < 64)
			seen[nseen++] = blocks[i];
		count = count_block(blocks, n, blocks[i]);
		if (count > *most && memory_block_offlinable(blocks[i], size)) {
			best = blocks[i];
			*most = count;
		}
	}
	free(blocks);
	return best;
}

#define OFFLINE_STEP	4096UL	/* pages faulted in at a time, up to n */

/*
 * Catalogue E3 (6.15): offlining a ZONE_MOVABLE memory block under pages
 * the device holds exclusively. The range grows 16 MiB at a time, up to
 * 512 MiB, until some of it lies in a block that could go offline (where
 * the allocator takes pages from is up to it; blocks holding a THP some
 * earlier test leaked cannot), and the device takes those pages.
 * HMM_MOCK_EXPECT_EXCLUSIVE_OFFLINE declares the kernel's answer:
 * "migrates" (6.15 on: afterwards no page, mapped or held by the device,
 * is in the block) or "blocks" (before: the device-exclusive entry is no
 * mapping but holds a reference, every migration of the page fails, and
 * offlining retries until a signal ends it, 5 s here; once the CPU has
 * taken the pages back, it succeeds). The data is intact either way.
 */
TEST_F_TIMEOUT(mem, offlining_memory_under_exclusive_pages_behaves_as_the_lane_declares, 120)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_EXCLUSIVE_OFFLINE");
	unsigned long i, j, most = 0, filled = 0;
	long *blocks, block = -1;
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	MAP_RANGE(32 * OFFLINE_STEP);
	hmm_mock_fill(p, self->page, 23);
	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, 1, NULL);
	if (ret == -EOPNOTSUPP)
		SKIP(return, "kernel without device-exclusive entries (CONFIG_DEVICE_PRIVATE=n)");
	ASSERT_EQ(0, ret);
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_EXCLUSIVE_OFFLINE is not declared for this kernel");
	ASSERT_TRUE(!strcmp(expect, "migrates") || !strcmp(expect, "blocks"))
		TH_LOG("HMM_MOCK_EXPECT_EXCLUSIVE_OFFLINE=%s: migrates or blocks", expect);
	while (block < 0 && filled < n) {
		filled += OFFLINE_STEP;
		hmm_mock_fill(p, filled * self->page, 23);
		block = offlinable_block_of(p, filled, self->page, &most);
	}
	if (block < 0)
		SKIP(return, "no page in an offlinable ZONE_MOVABLE block (vm/run --movable)");
	TH_LOG("memory%ld holds %lu of %lu pages", block, most, filled);

	/* The device takes each run of pages in the block. */
	blocks = memory_blocks_of(p, filled, self->page);
	ASSERT_NE(NULL, blocks);
	for (i = 0; i < filled; i = j) {
		for (j = i + 1; j < filled && (blocks[j] == block) == (blocks[i] == block); j++)
			;
		if (blocks[i] != block)
			continue;
		ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p + i * self->page, buf, j - i, NULL);
		ASSERT_EQ(0, ret);
	}
	free(blocks);
	blocks = memory_blocks_of(p, filled, self->page);
	ASSERT_NE(NULL, blocks);
	most = count_block(blocks, filled, block);
	free(blocks);
	ASSERT_LT(0UL, most) TH_LOG("EXCLUSIVE moved the pages out of the block");
	/* Offlining dissolves free huge pages in the block: the teardown restores them. */
	self->saved_hugepages = read_long(NR_HUGEPAGES);

	if (!strcmp(expect, "migrates")) {
		ret = memory_block_set(block, "offline", 15);
		if (!ret)
			self->offline_block = block;
		ASSERT_EQ(0, ret) TH_LOG("offline memory%ld: %s", block, strerror(-ret));
		blocks = memory_blocks_of(p, filled, self->page);
		ASSERT_NE(NULL, blocks);
		EXPECT_EQ(0UL, count_block(blocks, filled, block));
		free(blocks);
	} else {
		ret = memory_block_set(block, "offline", 5);
		if (!ret)
			self->offline_block = block;
		ASSERT_EQ(-EINTR, ret) TH_LOG("offline memory%ld: %s", block, strerror(-ret));
		/* -EPERM: the device still holds pages of the range. */
		EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf,
					       filled, NULL));
		/* The CPU takes them back: now nothing else keeps the block. */
		EXPECT_EQ(-1, hmm_mock_check(p, filled * self->page, 23));
		ret = memory_block_set(block, "offline", 15);
		if (!ret)
			self->offline_block = block;
		EXPECT_EQ(0, ret) TH_LOG("offline memory%ld after the CPU access: %s", block,
					 strerror(-ret));
	}
	EXPECT_EQ(-1, hmm_mock_check(p, filled * self->page, 23));
}

TEST_HARNESS_MAIN
