/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the device memory programs (hmm_mock_access, _migrate,
 * _mappings, _fork, _exclusive, _evict, _accounting): every test runs once
 * on device-private memory (devices 0 and 1) and once on device-coherent
 * memory (devices 2 and 3), as mem.private.* and mem.coherent.*. Include
 * after hmm_mock_test.h.
 */
#ifndef _HMM_MOCK_MEM_H
#define _HMM_MOCK_MEM_H

#include <stdint.h>
#include <sys/mman.h>

#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))
#define DEVMEM_CAP	"/sys/module/hmm_mock/parameters/devmem_max_mb"
#define NR_HUGEPAGES	"/proc/sys/vm/nr_hugepages"
#define KSM_RUN		"/sys/kernel/mm/ksm/run"
#define KSM_SLEEP	"/sys/kernel/mm/ksm/sleep_millisecs"

FIXTURE(mem) {
	int fd;
	int peer;		/* the other device of the same kind */
	size_t page;
	long saved_cap;		/* DEVMEM_CAP to restore, or -1 */
	long saved_hugepages;	/* NR_HUGEPAGES to restore, or -1 */
	long saved_ksm_run;	/* KSM_RUN to restore, or -1 */
	long saved_ksm_sleep;	/* KSM_SLEEP to restore, or -1 */
	char cgroup[64];	/* a cgroup the test made and joined, or "" */
	long offline_block;	/* a memory block to online again, or -1 */
	const char *skipped;	/* set when the setup skipped */
	char *buf;		/* DEVICE_BUF()'s buffer, freed by the teardown */
};

FIXTURE_VARIANT(mem) {
	int id;
	int peer;
	bool coherent;
};

FIXTURE_VARIANT_ADD(mem, private) { .id = 0, .peer = 1, .coherent = false };
FIXTURE_VARIANT_ADD(mem, coherent) { .id = 2, .peer = 3, .coherent = true };

FIXTURE_SETUP(mem)
{
	self->page = sysconf(_SC_PAGESIZE);
	self->saved_cap = -1;
	self->saved_hugepages = -1;
	self->saved_ksm_run = -1;
	self->saved_ksm_sleep = -1;
	self->peer = -1;
	self->cgroup[0] = '\0';
	self->offline_block = -1;
	self->buf = NULL;
	HMM_MOCK_OPEN_OR_SKIP(self->fd, variant->id, self->skipped);
	HMM_MOCK_OPEN_OR_SKIP(self->peer, variant->peer, self->skipped);
}

static inline long read_long(const char *path)
{
	long v = -1;
	FILE *f = fopen(path, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static inline int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	return fclose(f) ? -1 : ret;
}

static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t len = strlen(s), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, s, len);
	ret = ret == len ? 0 : ret < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

#define CGROUP_ROOT	"/sys/fs/cgroup"
#define MEMORY_BLOCKS	"/sys/devices/system/memory"

FIXTURE_TEARDOWN(mem)
{
	char path[128];

	/*
	 * Global knobs a test changed go back even if it failed; the memory
	 * block first, since offlining it dissolved free huge pages in it.
	 */
	if (self->offline_block >= 0) {
		snprintf(path, sizeof(path), MEMORY_BLOCKS "/memory%ld/state", self->offline_block);
		if (write_str(path, "online_movable"))
			TH_LOG("memory%ld stays offline: the rest of the run has less memory",
			       self->offline_block);
	}
	if (self->saved_cap >= 0)
		write_long(DEVMEM_CAP, self->saved_cap);
	if (self->saved_hugepages >= 0)
		write_long(NR_HUGEPAGES, self->saved_hugepages);
	if (self->saved_ksm_run >= 0)
		write_long(KSM_RUN, self->saved_ksm_run);
	if (self->saved_ksm_sleep >= 0)
		write_long(KSM_SLEEP, self->saved_ksm_sleep);
	if (self->cgroup[0]) {
		write_long(CGROUP_ROOT "/cgroup.procs", getpid());
		if (rmdir(self->cgroup))
			TH_LOG("cannot remove %s: %s", self->cgroup, strerror(errno));
	}
	if (self->fd >= 0)
		close(self->fd);
	if (self->peer >= 0)
		close(self->peer);
	free(self->buf);
}

/* HMM_MOCK_PAGE_INFO of @n pages at @p into a new array (ASSERTs). */
#define PAGE_INFO(fd, p, n) ({							\
	struct hmm_mock_page_info *_info = calloc((n), sizeof(*_info));	\
										\
	ASSERT_NE(NULL, _info);							\
	ASSERT_EQ(0, hmm_mock_page_info(fd, p, n, _info));			\
	_info;									\
})

/*
 * Every one of @n pages is device memory of device @id, mapped @maps times
 * with as many references, and not on the free list. Names the first page
 * that is not.
 */
#define EXPECT_DEVICE_PAGES(info, n, id, maps) do {				\
	unsigned long _i;							\
										\
	for (_i = 0; _i < (n); _i++)						\
		if ((info)[_i].device != (id) || (info)[_i].mapcount != (maps) ||	\
		    (info)[_i].refcount != (maps) ||				\
		    ((info)[_i].flags & HMM_MOCK_PAGE_ON_FREE_LIST))		\
			break;							\
	EXPECT_EQ((unsigned long)(n), _i)					\
		TH_LOG("page %lu: device %d, mapcount %d, refcount %d, flags 0x%x", _i, \
		       (info)[_i].device, (info)[_i].mapcount, (info)[_i].refcount, \
		       (info)[_i].flags);					\
} while (0)

/* The kernel's gup_test debugfs ABI (mm/gup_test.h). */
struct gup_test {
	__u64 get_delta_usec;
	__u64 put_delta_usec;
	__u64 addr;
	__u64 size;
	__u32 nr_pages_per_call;
	__u32 gup_flags;
	__u32 test_flags;
	__u32 which_pages[8];
};

#define GUP_BASIC_TEST		_IOWR('g', 4, struct gup_test)
#define PIN_LONGTERM_BENCHMARK	_IOWR('g', 3, struct gup_test)
#define GUP_FOLL_WRITE		0x01

/*
 * gup_test's @op over @len bytes at @p, in one call, with gup_test's
 * @flags (0 or GUP_FOLL_WRITE). Returns 0, -ENODEV without gup_test, or
 * -errno.
 */
static inline int gup_run(unsigned long op, unsigned int flags, void *p, size_t len, size_t page)
{
	struct gup_test gup = {
		.addr = (uintptr_t)p,
		.size = len,
		.nr_pages_per_call = len / page,
		.gup_flags = flags,
	};
	int fd = open("/sys/kernel/debug/gup_test", O_RDWR);
	int ret;

	if (fd < 0)
		return -ENODEV;
	ret = ioctl(fd, op, &gup) ? -errno : 0;
	close(fd);
	return ret;
}

/* gup_run() in a test body; SKIPs without gup_test. */
#define GUP_OR_SKIP(op, flags, p, len) do {					\
	int _ret = gup_run(op, flags, p, len, self->page);			\
										\
	if (_ret == -ENODEV)							\
		SKIP(return, "no /sys/kernel/debug/gup_test (CONFIG_GUP_TEST, debugfs)"); \
	ASSERT_EQ(0, _ret);							\
} while (0)

/* Private anonymous memory in small pages. */
static inline void *map_small(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * What a test works on, declared by one of these, once a test, after
 * SKIP_IF_SETUP_SKIPPED(). DEVICE_BUF(pages) declares
 *	n	@pages, the number of pages;
 *	len	their size in bytes;
 *	buf	@len bytes for the device's side of the data, freed by the
 *		teardown (so also when an ASSERT ends the test);
 * MAP_RANGE(pages) declares these and
 *	p	@len bytes of private anonymous memory in small pages;
 * MAP_FILLED(pages, seed), what most tests start from, declares the same
 * with p holding pattern @seed.
 */
#define DEVICE_BUF(pages)							\
	const unsigned long n = (pages);					\
	const size_t len = n * self->page;					\
	char *const buf = self->buf = malloc(len);				\
										\
	ASSERT_NE(NULL, (void *)buf)

#define MAP_RANGE(pages)							\
	DEVICE_BUF(pages);							\
	char *const p = map_small(len);						\
										\
	ASSERT_NE(MAP_FAILED, (void *)p)

#define MAP_FILLED(pages, seed)							\
	MAP_RANGE(pages);							\
	hmm_mock_fill(p, len, seed)

/* 2 MiB aligned private anonymous memory that asks for a THP. */
static inline void *map_huge(void)
{
	char *p = mmap(NULL, 2 * TWO_MB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *aligned;

	if (p == MAP_FAILED)
		return p;
	aligned = (char *)(((uintptr_t)p + TWO_MB - 1) & ~(TWO_MB - 1));
	madvise(aligned, TWO_MB, MADV_HUGEPAGE);
	return aligned;
}

/*
 * map_huge() memory holding pattern @seed, or NULL where the kernel did
 * not make it a transparent huge page; MAP_FAILED if mmap() or SNAPSHOT
 * on @fd failed.
 */
static inline char *map_thp(int fd, int seed)
{
	unsigned char prot;
	char *p = map_huge();

	if (p == MAP_FAILED)
		return p;
	hmm_mock_fill(p, TWO_MB, seed);
	if (hmm_mock_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, &prot, 1, NULL))
		return MAP_FAILED;
	return prot & HMM_DMIRROR_PROT_PMD ? p : NULL;
}

#define NO_THP	"no transparent huge page for the range (THP disabled)"

/* @p gets map_thp() memory holding pattern @seed, or the test SKIPs. */
#define MAP_THP_OR_SKIP(p, seed) do {						\
	(p) = map_thp(self->fd, (seed));					\
	ASSERT_NE(MAP_FAILED, (void *)(p));					\
	if (!(p))								\
		SKIP(return, NO_THP);						\
} while (0)

/*
 * THP_ON_DEVICE_THEN_FORK(seed) declares DEVICE_BUF()'s n, len and buf for
 * a THP's pages, and
 *	p	a THP holding pattern @seed (or the test skips), migrated to
 *		the device: one large device folio, where the device has them;
 *	pid	a child that maps it too and checks it for @seed after
 *	go	hmm_mock_go(go) (hmm_mock_fork_checker()).
 */
#define THP_ON_DEVICE_THEN_FORK(seed)						\
	DEVICE_BUF(TWO_MB / self->page);					\
	const int thp_seed = (seed);						\
	struct hmm_dmirror_cmd thp_cmd;						\
	pid_t pid;								\
	char *p;								\
	int go;									\
										\
	MAP_THP_OR_SKIP(p, thp_seed);						\
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &thp_cmd)); \
	ASSERT_EQ(n, thp_cmd.cpages);						\
	if (hmm_mock_stats(self->fd).large_folio_pages)				\
		EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) |		\
				HMM_DMIRROR_PROT_WRITE | HMM_DMIRROR_PROT_PMD);	\
	pid = hmm_mock_fork_checker(p, TWO_MB, thp_seed, &go);			\
	ASSERT_GE(pid, 0)

/*
 * Keeps khugepaged off a THP from now on. Exclusive access maps the THP by
 * PTEs, which khugepaged may collapse again at any time, faulting the
 * exclusive entries back: a test that checks the access is still there
 * needs it gone.
 */
static inline int keep_khugepaged_off(void *thp)
{
	return madvise(thp, TWO_MB, MADV_NOHUGEPAGE) ? errno : 0;
}

static inline unsigned char local_prot(const FIXTURE_VARIANT(mem) *variant)
{
	return hmm_mock_local_prot(variant->coherent);
}

/*
 * Exit status of a fork child that finds pattern @seed at @p, writes
 * pattern @next over it and reads that back: 0, or 1 or 2 for the check
 * that failed.
 */
static inline int child_reads_then_writes(void *p, size_t len, int seed, int next)
{
	if (hmm_mock_check(p, len, seed) != -1)
		return 1;
	hmm_mock_fill(p, len, next);
	return hmm_mock_check(p, len, next) == -1 ? 0 : 2;
}

/* Forks a child_reads_then_writes() and expects it to succeed. */
#define EXPECT_CHILD_READS_THEN_WRITES(p, len, seed, next) do {		\
	pid_t _pid = fork();							\
										\
	ASSERT_GE(_pid, 0);							\
	if (!_pid)								\
		_exit(child_reads_then_writes((p), (len), (seed), (next)));	\
	EXPECT_CHILD_OK(_pid);							\
} while (0)

#endif /* _HMM_MOCK_MEM_H */
