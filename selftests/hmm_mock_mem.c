// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory behaviour: device READ/WRITE through the mirror, migration
 * to and from device memory, CPU faults, fork and copy-on-write, large
 * pages, file and shared mappings, two devices, exclusive access, GUP,
 * eviction, fault injection and running out of device memory. Every test
 * runs once on device-private and once on device-coherent memory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

#define TWO_MB		(2UL << 20)
#define READ_ONCE(x)	(*(const volatile typeof(x) *)&(x))
#define DEVMEM_CAP	"/sys/module/hmm_mock/parameters/devmem_max_mb"
#define NR_HUGEPAGES	"/proc/sys/vm/nr_hugepages"

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

FIXTURE(mem) {
	int fd;
	int peer;
	size_t page;
	long saved_cap;
	long saved_hugepages;
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
	const char *why;
	int err;

	self->page = sysconf(_SC_PAGESIZE);
	self->saved_cap = -1;
	self->saved_hugepages = -1;
	self->peer = -1;
	self->fd = hmm_mock_open(variant->id, &why, &err);
	if (self->fd < 0 && why)
		SKIP(return, "%s", why);
	ASSERT_GE(self->fd, 0) TH_LOG("open hmm_dmirror%d: %s", variant->id, strerror(-err));
	self->peer = hmm_mock_open(variant->peer, &why, &err);
	if (self->peer < 0 && why)
		SKIP(return, "%s", why);
	ASSERT_GE(self->peer, 0) TH_LOG("open hmm_dmirror%d: %s", variant->peer, strerror(-err));
}

static long read_long(const char *path)
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

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	return fclose(f) ? -1 : ret;
}

FIXTURE_TEARDOWN(mem)
{
	/* Global knobs a test changed go back even if it failed. */
	if (self->saved_cap >= 0)
		write_long(DEVMEM_CAP, self->saved_cap);
	if (self->saved_hugepages >= 0)
		write_long(NR_HUGEPAGES, self->saved_hugepages);
	if (self->fd >= 0)
		close(self->fd);
	if (self->peer >= 0)
		close(self->peer);
}

/* Private anonymous memory in small pages. */
static void *map_small(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/* 2 MiB aligned private anonymous memory that asks for a THP. */
static void *map_huge(void)
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

static unsigned char local_prot(const FIXTURE_VARIANT(mem) *variant)
{
	return variant->coherent ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
				   HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL;
}

/* Every byte of a SNAPSHOT of @n pages at @p equals @want. */
#define EXPECT_SNAPSHOT(fd, p, n, want) do {					\
	unsigned char *_m = malloc(n);						\
	unsigned long _i;							\
	ASSERT_NE(NULL, _m);							\
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, _m, n, NULL));	\
	for (_i = 0; _i < (unsigned long)(n); _i++)				\
		ASSERT_EQ((unsigned char)(want), _m[_i]) TH_LOG("page %lu", _i);	\
	free(_m);								\
} while (0)

TEST_F(mem, device_read_returns_cpu_data_with_one_fault)
{
	unsigned long n = 32;
	size_t len = n * self->page;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 1);
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
	free(buf);
}

TEST_F(mem, device_read_after_invalidation_sees_new_pages)
{
	unsigned long n = 16;
	size_t len = n * self->page;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 1);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));

	/* Zapping the pages must drop the device's stale view of them. */
	ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED));
	hmm_mock_fill(p, len, 7);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 7));
	free(buf);
}

TEST_F(mem, device_write_reaches_cpu)
{
	unsigned long n = 16;
	size_t len = n * self->page;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0, len);
	hmm_mock_fill(buf, len, 3);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 3));
	free(buf);
}

TEST_F(mem, device_write_to_read_only_mapping_is_eperm_and_changes_nothing)
{
	unsigned long n = 4;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 5);
	ASSERT_EQ(0, mprotect(p, len, PROT_READ));
	hmm_mock_fill(buf, len, 9);
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 5));

	/* Reading is still allowed. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 5));
	free(buf);
}

TEST_F(mem, device_read_of_inaccessible_mapping_is_efault)
{
	size_t len = 2 * self->page;
	void *buf = malloc(len);
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, 2, NULL));
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 2, NULL));
	free(buf);
}

TEST_F(mem, migrated_pages_return_on_cpu_access_with_data)
{
	unsigned long n = 64;
	size_t len = n * self->page;
	struct hmm_mock_stats st0, st1, st2;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 11);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 11));
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use + n, st1.pages_in_use);

	/* The CPU sees its data: private pages fault back, coherent ones stay. */
	EXPECT_EQ(-1, hmm_mock_check(p, len, 11));
	st2 = hmm_mock_stats(self->fd);
	if (variant->coherent) {
		EXPECT_EQ(st1.cpu_faults, st2.cpu_faults);
		EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	} else {
		EXPECT_EQ(st1.cpu_faults + n, st2.cpu_faults);
		EXPECT_EQ(st0.pages_in_use, st2.pages_in_use);
		EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	}
	free(buf);
}

TEST_F(mem, migrate_to_system_moves_every_page_back)
{
	unsigned long n = 64;
	size_t len = n * self->page;
	struct hmm_mock_stats st0, st1;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 13);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_EQ(st0.page_frees + n, st1.page_frees);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 13));

	/* Nothing left to move. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(0UL, cmd.cpages);
	free(buf);
}

TEST_F(mem, device_write_to_device_pages_is_seen_by_cpu)
{
	unsigned long n = 16;
	size_t len = n * self->page;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 17);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	hmm_mock_fill(buf, len, 21);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0UL, cmd.faults);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 21));
	free(buf);
}

TEST_F(mem, device_read_of_device_pages_after_invalidation)
{
	unsigned long n = 16, i;
	size_t len = n * self->page;
	struct hmm_dmirror_cmd cmd;
	unsigned char *m = malloc(n);
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 31);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* A protection change invalidates the device's mappings... */
	ASSERT_EQ(0, mprotect(p, len, PROT_READ));
	ASSERT_EQ(0, mprotect(p, len, PROT_READ | PROT_WRITE));
	/* ...and the device faults its own pages back in, without moving them. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 31));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, m, n, NULL));
	for (i = 0; i < n; i++)
		EXPECT_EQ(local_prot(variant), m[i] & 0xf0);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 31));
	free(m);
	free(buf);
}

TEST_F(mem, second_migration_keeps_pages_where_they_are)
{
	unsigned long n = 16;
	size_t len = n * self->page;
	struct hmm_mock_stats st0, st1;
	struct hmm_dmirror_cmd cmd;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 19);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 19));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use + n, st1.pages_in_use);
	free(buf);
}

TEST_F(mem, untouched_range_migrates_as_zeroed_pages)
{
	unsigned long n = 8, i;
	size_t len = n * self->page;
	struct hmm_dmirror_cmd cmd;
	char *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	memset(buf, 0x55, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	for (i = 0; i < len; i++) {
		ASSERT_EQ(0, buf[i]);
		ASSERT_EQ(0, p[i]);
	}
	free(buf);
}

TEST_F(mem, read_only_zero_page_migrates_read_only)
{
	unsigned long n = 4;
	size_t len = n * self->page;
	char *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;
	unsigned long i;

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
	free(buf);
}

TEST_F(mem, shared_anonymous_memory_stays_in_system_memory)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *buf = malloc(len);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 23);
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 23));
	/* The device still reads it in place. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 23));
	free(buf);
}

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

TEST_F(mem, shared_file_pages_are_mirrored_not_migrated)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	int file = make_file(len, 29);
	void *buf = malloc(len);
	void *p;

	ASSERT_GE(file, 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, file, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 29));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	hmm_mock_fill(buf, len, 37);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	ASSERT_EQ((ssize_t)len, pread(file, buf, len, 0));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 37));
	close(file);
	free(buf);
}

TEST_F(mem, private_file_mapping_migrates_its_copies_only)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	int file = make_file(len, 41);
	void *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;
	void *p;

	ASSERT_GE(file, 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 43);	/* private copies of every page */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 43));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 43));
	ASSERT_EQ((ssize_t)len, pread(file, buf, len, 0));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 41));
	close(file);
	free(buf);
}

TEST_F(mem, range_with_hole_is_einval_and_moves_nothing)
{
	size_t len = 3 * self->page;
	char *p = map_small(len);
	void *buf = malloc(len);
	struct hmm_mock_stats st0, st1;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 47);
	ASSERT_EQ(0, munmap(p + self->page, self->page));
	st0 = hmm_mock_stats(self->fd);
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 3, NULL));
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, 3, NULL));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, p, 1, HMM_DMIRROR_PROT_WRITE);
	EXPECT_SNAPSHOT(self->fd, p + 2 * self->page, 1, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, self->page, 47));
	free(buf);
}

TEST_F(mem, fork_after_migration_gives_each_process_its_data)
{
	unsigned long n = 16;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 51);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (hmm_mock_check(p, len, 51) != -1)
			_exit(1);
		hmm_mock_fill(p, len, 53);
		_exit(hmm_mock_check(p, len, 53) == -1 ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 51));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 51));
	free(buf);
}

TEST_F(mem, migrating_cow_shared_pages_leaves_other_process_alone)
{
	unsigned long n = 16;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;
	int go[2], status;
	char c = 0;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 57);
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(hmm_mock_check(p, len, 57) == -1 ? 0 : 1);
	}
	close(go[0]);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	hmm_mock_fill(buf, len, 59);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 59));
	ASSERT_EQ(1, write(go[1], &c, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	free(buf);
}

TEST_F(mem, thp_range_migrates_and_returns_intact)
{
	unsigned long n = TWO_MB / self->page;
	void *p = map_huge(), *buf = malloc(TWO_MB);
	struct hmm_dmirror_cmd cmd;
	unsigned char m, huge = 0;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, TWO_MB, 61);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, &m, 1, NULL));
	if (!(m & HMM_DMIRROR_PROT_PMD))
		SKIP(return, "no transparent huge page for the range (THP disabled)");
	/* A device with large folios keeps the THP whole (hmm_mock_thp.c). */
	if (hmm_mock_stats(self->fd).large_folio_pages)
		huge = HMM_DMIRROR_PROT_PMD;
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, TWO_MB, 61));
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE | huge);
	EXPECT_EQ(-1, hmm_mock_check(p, TWO_MB, 61));
	free(buf);
}

TEST_F(mem, hugetlb_range_is_mirrored_but_not_migrated)
{
	unsigned long n = TWO_MB / self->page;
	void *buf = malloc(TWO_MB);
	struct hmm_dmirror_cmd cmd;
	void *p;

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
	free(buf);
}

TEST_F(mem, partial_unmap_frees_device_pages_and_keeps_the_rest)
{
	unsigned long n = 16;
	size_t len = n * self->page, quarter = len / 4;
	char *p = map_small(len);
	void *buf = malloc(len);
	struct hmm_mock_stats st1, st2;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 71);
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

TEST_F(mem, repeated_round_trips_keep_data)
{
	unsigned long n = 32;
	size_t len = n * self->page;
	int *p = map_small(len), round;
	void *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;
	size_t i;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 0);
	for (round = 1; round <= 8; round++) {
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
		ASSERT_EQ(n, cmd.cpages);
		for (i = 0; i < len / sizeof(int); i++)
			p[i]++;
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, NULL));
		ASSERT_EQ(-1, hmm_mock_check(p, len, round)) TH_LOG("round %d", round);
	}
	free(buf);
}

TEST_F(mem, pages_move_between_devices_through_system_memory)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;
	unsigned char remote = variant->coherent ?
		HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE :
		HMM_DMIRROR_PROT_NONE;	/* another device's private memory is invisible */

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 73);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* The other device reads it wherever it is. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 73));

	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->peer, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_SNAPSHOT(self->fd, p, n, remote);

	/* Reading through the first device again finds the same data. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 73));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 73));
	free(buf);
}

TEST_F(mem, migrate_refuses_pages_of_the_other_device)
{
	unsigned long n = 4;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 79);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->peer, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 79));
	free(buf);
}

TEST_F(mem, device_write_to_page_on_other_device_lands_in_cpu_memory)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 151);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* Private pages come back from the other device; coherent ones are written in place. */
	hmm_mock_fill(buf, len, 157);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 157));
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 157));
	free(buf);
}

TEST_F(mem, device_write_after_fork_breaks_sharing_for_caller_only)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	int go[2], status;
	char c = 0;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 163);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(hmm_mock_check(p, len, 163) == -1 ? 0 : 1);
	}
	close(go[0]);
	/* fork write-protected the pages: the device must not write the shared copy. */
	hmm_mock_fill(buf, len, 167);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 167));
	ASSERT_EQ(1, write(go[1], &c, 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	free(buf);
}

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
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;

	SKIP_WITHOUT_EXCLUSIVE();
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 83);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 83));
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));

	hmm_mock_fill(p, len, 89);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 89));
	free(buf);
}

TEST_F(mem, exclusive_then_read_only_blocks_device_write)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);

	SKIP_WITHOUT_EXCLUSIVE();
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 97);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL));
	ASSERT_EQ(0, mprotect(p, len, PROT_READ));
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	hmm_mock_fill(buf, len, 101);
	EXPECT_EQ(-EPERM, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 97));
	free(buf);
}

TEST_F(mem, exclusive_then_fork_gives_child_its_own_copy)
{
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	int status;
	pid_t pid;

	SKIP_WITHOUT_EXCLUSIVE();
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 103);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, n, NULL));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (hmm_mock_check(p, len, 103) != -1)
			_exit(1);
		hmm_mock_fill(p, len, 107);
		_exit(hmm_mock_check(p, len, 107) == -1 ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* fork made the parent's pages ordinary again to share them. */
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_CHECK_EXCLUSIVE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 103));
	free(buf);
}

TEST_F(mem, exclusive_on_unmapped_range_fails_efault)
{
	size_t len = 2 * self->page;
	void *p = map_small(len), *buf = malloc(len);

	SKIP_WITHOUT_EXCLUSIVE();
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p, len));
	EXPECT_EQ(-EFAULT, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, buf, 2, NULL));
	free(buf);
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
	unsigned long n = 8;
	size_t len = n * self->page;
	void *p = map_huge(), *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;
	unsigned char m;
	int ret;

	SKIP_WITHOUT_EXCLUSIVE();
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_EXCLUSIVE_THP is not declared for this kernel");
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, TWO_MB, 137);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, &m, 1, NULL));
	if (!(m & HMM_DMIRROR_PROT_PMD))
		SKIP(return, "no transparent huge page for the range (THP disabled)");

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
	free(buf);
}

static int gup_run(unsigned long op, void *p, size_t len, size_t page)
{
	struct gup_test gup = {
		.addr = (uintptr_t)p,
		.size = len,
		.nr_pages_per_call = len / page,
		.gup_flags = GUP_FOLL_WRITE,
	};
	int fd = open("/sys/kernel/debug/gup_test", O_RDWR);
	int ret;

	if (fd < 0)
		return -ENODEV;
	ret = ioctl(fd, op, &gup) ? -errno : 0;
	close(fd);
	return ret;
}

TEST_F(mem, longterm_pin_moves_device_pages_to_system_memory)
{
	unsigned long n = 4;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	int ret;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 109);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ret = gup_run(PIN_LONGTERM_BENCHMARK, p, len, self->page);
	if (ret == -ENODEV)
		SKIP(return, "no /sys/kernel/debug/gup_test (CONFIG_GUP_TEST, debugfs)");
	ASSERT_EQ(0, ret);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 109));
	free(buf);
}

TEST_F(mem, short_term_gup_keeps_only_coherent_pages_on_device)
{
	unsigned long n = 4;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	int ret;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 113);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ret = gup_run(GUP_BASIC_TEST, p, len, self->page);
	if (ret == -ENODEV)
		SKIP(return, "no /sys/kernel/debug/gup_test (CONFIG_GUP_TEST, debugfs)");
	ASSERT_EQ(0, ret);
	/* Private memory is not CPU addressable: GUP faults it back. */
	EXPECT_SNAPSHOT(self->fd, p, n, variant->coherent ?
			local_prot(variant) | HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 113));
	free(buf);
}

TEST_F(mem, release_evicts_every_device_page_and_keeps_data)
{
	unsigned long n = 64;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_mock_stats st0, st1;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 127);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, p, buf, n, NULL));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(0UL, st1.pages_in_use);
	EXPECT_EQ(st1.pages_total, st1.pages_free);
	EXPECT_LE(st0.evicted + n, st1.evicted);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 127));
	free(buf);
}

TEST_F(mem, closing_last_file_evicts_device_memory_and_keeps_data)
{
	unsigned long n = 64;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_mock_stats st;
	const char *why;
	int err;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 131);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, close(self->fd));
	self->fd = hmm_mock_open(variant->id, &why, &err);
	ASSERT_GE(self->fd, 0);
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(0UL, st.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 131));
	free(buf);
}

TEST_F(mem, exhausted_device_memory_leaves_the_rest_in_system_memory)
{
	struct hmm_mock_stats st0, st1;
	unsigned long n, i, on_device = 0;
	unsigned char *m;
	size_t len;
	void *p, *buf;

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
	p = map_small(len);
	buf = malloc(len);
	m = malloc(n);
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 137);
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
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_dmirror_cmd cmd;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 139);
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

TEST_F(mem, device_node_mmap_gives_zeroed_copy_on_write_pages)
{
	unsigned long n = 4, i;
	size_t len = n * self->page;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_READ);
	for (i = 0; i < len; i++)
		ASSERT_EQ(0, p[i]);
	hmm_mock_fill(p, len, 149);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 149));
	munmap(p, len);
}

TEST_F(mem, free_list_accounting_balances)
{
	unsigned long n = 32;
	size_t len = n * self->page;
	void *p = map_small(len), *buf = malloc(len);
	struct hmm_mock_stats st0, st1, st2;

	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, len, 151);
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
