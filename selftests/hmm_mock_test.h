/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hmm-mock test programs. Include after
 * kselftest_harness.h: the macros use its SKIP, ASSERT and EXPECT.
 */
#ifndef _HMM_MOCK_TEST_H
#define _HMM_MOCK_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/userfaultfd.h>
#include <uapi/hmm_mock.h>

/* Seconds on the monotonic clock. */
static inline double hmm_mock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Device ids of the two kinds of memory. */
#define HMM_MOCK_PRIVATE0	0
#define HMM_MOCK_PRIVATE1	1
#define HMM_MOCK_COHERENT0	2
#define HMM_MOCK_COHERENT1	3

#define TWO_MB			(2UL << 20)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE		25	/* uapi headers before 6.1 */
#endif

static inline void hmm_mock_node(char *buf, size_t len, int id)
{
	snprintf(buf, len, "/dev/hmm_dmirror%d", id);
}

/*
 * Opens device @id. Returns the fd, or -1 with @why set when the device is
 * absent for a reason the module logs (no memory of that kind on this
 * kernel or machine); any other failure is returned as -errno in @err.
 */
static inline int hmm_mock_open(int id, const char **why, int *err)
{
	char node[32];
	int fd;

	*why = NULL;
	*err = 0;
	hmm_mock_node(node, sizeof(node), id);
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	*err = -errno;
	if (errno != ENOENT)
		return -1;
	if (access("/sys/module/hmm_mock", F_OK)) {
		*why = NULL;	/* module not loaded: a failure, not a skip */
		return -1;
	}
	*why = id < HMM_MOCK_COHERENT0 ?
		"device-private node absent (kernel without CONFIG_DEVICE_PRIVATE)" :
		"device-coherent node absent (hmm_mock loaded without spm_addr_dev*)";
	return -1;
}

/*
 * Opens device @id into @fd for a FIXTURE_SETUP or a test body. A node
 * that is absent for a logged reason SKIPs (the lane's skip list matches
 * the reason); any other failure fails. @skipped, a const char * lvalue,
 * gets the reason or NULL, for SKIP_IF_SETUP_SKIPPED().
 */
#define HMM_MOCK_OPEN_OR_SKIP(fd, id, skipped) do {				\
	const char *_why;							\
	int _err;								\
										\
	(fd) = hmm_mock_open(id, &_why, &_err);					\
	(skipped) = _why;							\
	if ((fd) < 0 && _why)							\
		SKIP(return, "%s", _why);					\
	ASSERT_GE((fd), 0) TH_LOG("open hmm_dmirror%d: %s", (id), strerror(-_err)); \
} while (0)

/*
 * The first statement of every TEST_F whose FIXTURE_SETUP can SKIP: older
 * kselftest harnesses (6.1) run the test body after a SKIP in the setup,
 * on a fixture that was never set up. The fixture keeps the setup's reason
 * in self->skipped, so that the test skips again with the same reason.
 */
#define SKIP_IF_SETUP_SKIPPED() do {						\
	if (self->skipped)							\
		SKIP(return, "%s", self->skipped);				\
} while (0)

/* ioctl() that returns -errno instead of -1. */
static inline int hmm_mock_ioctl(int fd, unsigned long op, struct hmm_dmirror_cmd *cmd)
{
	return ioctl(fd, op, cmd) ? -errno : 0;
}

/*
 * Runs HMM_DMIRROR_* command @op over @npages pages at @addr with user
 * buffer @ptr. Returns 0 or -errno; *@out (if given) receives the command
 * as the driver returned it.
 */
static inline int hmm_mock_cmd(int fd, unsigned long op, void *addr, void *ptr,
			       unsigned long npages, struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (unsigned long)addr,
		.ptr = (unsigned long)ptr,
		.npages = npages,
	};
	int ret;

	do {
		ret = hmm_mock_ioctl(fd, op, &cmd);
	} while (ret == -EINTR);
	if (out)
		*out = cmd;
	return ret;
}

/*
 * The device's counters, as an expression; ASSERTs that HMM_MOCK_STATS
 * worked (its failing is a driver bug). A macro for the ASSERT: counters
 * made up on failure could make two readings agree by accident. For test
 * and setup bodies only, and, where the setup can skip, only after
 * SKIP_IF_SETUP_SKIPPED().
 */
#define hmm_mock_stats(fd) ({							\
	struct hmm_mock_stats _st;						\
	int _ret = ioctl(fd, HMM_MOCK_STATS, &_st) ? errno : 0;			\
										\
	ASSERT_EQ(0, _ret) TH_LOG("HMM_MOCK_STATS: %s", strerror(_ret));	\
	_st;									\
})

/*
 * HMM_MOCK_PAGE_INFO over @npages pages at @addr into @info. Returns 0 or
 * -errno.
 */
static inline int hmm_mock_page_info(int fd, const void *addr, unsigned long npages,
				     struct hmm_mock_page_info *info)
{
	struct hmm_mock_page_info_cmd cmd = {
		.addr = (unsigned long)addr,
		.npages = npages,
		.ptr = (unsigned long)info,
		.entry_size = sizeof(*info),
	};
	int ret;

	do {
		ret = ioctl(fd, HMM_MOCK_PAGE_INFO, &cmd) ? -errno : 0;
	} while (ret == -EINTR);
	return ret;
}

/* /proc/PID/pagemap bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PM_PRESENT	(1ULL << 63)
#define PM_SWAP		(1ULL << 62)
#define PM_UFFD_WP	(1ULL << 57)
#define PM_PFN_MASK	((1ULL << 55) - 1)
/* A swap-type entry's frame: its type in the low 5 bits, then its offset. */
#define PM_SWAP_TYPE(pm)	((pm) & 0x1f)
#define PM_SWAP_OFFSET(pm)	(((pm) & PM_PFN_MASK) >> 5)

/*
 * The /proc/self/pagemap entries of the @n pages at @p into @pm. Returns 0
 * or -errno.
 */
static inline int hmm_mock_pagemap(const void *p, unsigned long n, size_t page, uint64_t *pm)
{
	size_t size = n * sizeof(*pm);
	int fd = open("/proc/self/pagemap", O_RDONLY);
	ssize_t got;

	if (fd < 0)
		return -errno;
	got = pread(fd, pm, size, (uintptr_t)p / page * sizeof(*pm));
	close(fd);
	return got == (ssize_t)size ? 0 : got < 0 ? -errno : -EIO;
}

/* /proc/kpageflags bits (Documentation/admin-guide/mm/pagemap.rst). */
#define KPF_ANON	(1ULL << 12)
#define KPF_COMPOUND_HEAD	(1ULL << 15)
#define KPF_THP		(1ULL << 22)

/*
 * Page frame @pfn's entry in @file (/proc/kpageflags or kpagecount, which
 * root alone may read), or -1.
 */
static inline int64_t hmm_mock_kpage(const char *file, uint64_t pfn)
{
	int fd = open(file, O_RDONLY);
	uint64_t v;
	int64_t ret = -1;

	if (fd < 0)
		return -1;
	if (pread(fd, &v, sizeof(v), pfn * sizeof(v)) == sizeof(v))
		ret = v;
	close(fd);
	return ret;
}

/*
 * Reads /proc/.../stat at @path into @buf (@size bytes) and returns its
 * fields after the command name (which may hold blanks and ')'), starting
 * with the state, or NULL.
 */
static inline char *hmm_mock_proc_stat(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t len;
	char *s;

	if (fd < 0)
		return NULL;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len <= 0)
		return NULL;
	buf[len] = 0;
	s = strrchr(buf, ')');
	return s && s[1] == ' ' ? s + 2 : NULL;
}

/* HMM_MOCK_INJECT as modules before settle_delay_ms know it. */
#define HMM_MOCK_INJECT_V1	_IOW(HMM_MOCK_IOC_TYPE, 0x02,				\
				     char[offsetof(struct hmm_mock_inject, settle_delay_ms)])

/*
 * Sets every fault injection knob of the device; returns 0 or -errno. A
 * module older than the tests gets the knobs it knows when the others are 0.
 */
static inline int hmm_mock_inject(int fd, const struct hmm_mock_inject *knobs)
{
	if (!ioctl(fd, HMM_MOCK_INJECT, knobs))
		return 0;
	if (errno == ENOTTY && !knobs->settle_delay_ms)
		return ioctl(fd, HMM_MOCK_INJECT_V1, knobs) ? -errno : 0;
	return -errno;
}

/* The knobs named, the others 0: HMM_MOCK_KNOBS(.fail_copies = 1). */
#define HMM_MOCK_KNOBS(...)	(&(const struct hmm_mock_inject){ __VA_ARGS__ })

/*
 * hmm_mock_inject(fd, HMM_MOCK_KNOBS(...)) in a test body; SKIPs without
 * the privilege it needs.
 */
#define INJECT_OR_SKIP(fd, ...) do {						\
	int _r = hmm_mock_inject(fd, HMM_MOCK_KNOBS(__VA_ARGS__));		\
										\
	if (_r == -EPERM)							\
		SKIP(return, "HMM_MOCK_INJECT needs CAP_SYS_ADMIN");		\
	ASSERT_EQ(0, _r);							\
} while (0)

/*
 * HMM_MOCK_CHECK_FREE as an expression, ASSERTing that it worked; same
 * rules as hmm_mock_stats().
 */
#define hmm_mock_check_free(fd) ({							\
	struct hmm_mock_free_check _chk;					\
	int _ret = ioctl(fd, HMM_MOCK_CHECK_FREE, &_chk) ? errno : 0;		\
										\
	ASSERT_EQ(0, _ret) TH_LOG("HMM_MOCK_CHECK_FREE: %s", strerror(_ret));	\
	_chk;									\
})

/*
 * Every free device page is unreferenced and belongs to nothing, and the
 * free lists hold what the counters say.
 */
#define EXPECT_FREE_LISTS_CLEAN(fd) do {					\
	struct hmm_mock_free_check _chk = hmm_mock_check_free(fd);		\
	struct hmm_mock_stats _st = hmm_mock_stats(fd);				\
										\
	EXPECT_EQ(0ULL, (unsigned long long)_chk.referenced);			\
	EXPECT_EQ(0ULL, (unsigned long long)_chk.stale_mapping);		\
	EXPECT_EQ((unsigned long long)_st.pages_free, (unsigned long long)_chk.free); \
} while (0)

/* Writes the pattern seed, seed + 1, ... as ints over @len bytes. */
static inline void hmm_mock_fill(void *p, size_t len, int seed)
{
	int *v = p;
	size_t i;

	for (i = 0; i < len / sizeof(int); i++)
		v[i] = seed + (int)i;
}

/* Index of the first int that breaks the pattern, or -1. */
static inline long hmm_mock_check(const void *p, size_t len, int seed)
{
	const int *v = p;
	size_t i;

	for (i = 0; i < len / sizeof(int); i++)
		if (v[i] != seed + (int)i)
			return (long)i;
	return -1;
}

/* The SNAPSHOT protection byte of device memory of the given kind. */
static inline unsigned char hmm_mock_local_prot(bool coherent)
{
	return coherent ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
			  HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL;
}

/*
 * Every byte of a SNAPSHOT of @n pages at @p equals @want. One EXPECT over
 * the whole range that names the first page that differs, rather than one
 * report a page.
 */
#define EXPECT_SNAPSHOT(fd, p, n, want) do {					\
	unsigned long _n = (n), _i;						\
	unsigned char _want = (want), *_m = malloc(_n);				\
										\
	ASSERT_NE(NULL, _m);							\
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_SNAPSHOT, p, _m, _n, NULL));	\
	for (_i = 0; _i < _n && _m[_i] == _want; _i++)				\
		;								\
	EXPECT_EQ(_n, _i) TH_LOG("page %lu: 0x%02x, want 0x%02x", _i,		\
				 _i < _n ? _m[_i] : 0, _want);			\
	free(_m);								\
} while (0)

/*
 * Reaps child @pid and expects it to have exited with status 0. A child
 * reports what it checked through its exit status (the harness's
 * assertions would report from the wrong process), each failed check with
 * its own status. EXPECTs only, so that a test that must restore something
 * afterwards (the module, in hmm_mock_teardown) still does.
 */
#define EXPECT_CHILD_OK(pid) do {						\
	int _status = 0;							\
										\
	EXPECT_EQ((pid), waitpid((pid), &_status, 0));				\
	EXPECT_TRUE(WIFEXITED(_status)) TH_LOG("killed by signal %d", WTERMSIG(_status)); \
	EXPECT_EQ(0, WEXITSTATUS(_status));					\
} while (0)

/*
 * Forks a child that waits for hmm_mock_go(*@go) and then checks that @len
 * bytes at @p hold pattern @seed: exit status 0 if they do, 1 if not, 3 if
 * the parent closed *@go without a go. The pipe, never a sleep, orders the
 * child's check after whatever the parent does in between. Returns the
 * child's pid, or -1.
 */
static inline pid_t hmm_mock_fork_checker(const void *p, size_t len, int seed, int *go)
{
	int fds[2];
	pid_t pid;
	char c;

	if (pipe(fds))
		return -1;
	pid = fork();
	if (!pid) {
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(3);
		_exit(hmm_mock_check(p, len, seed) == -1 ? 0 : 1);
	}
	close(fds[0]);
	if (pid < 0)
		close(fds[1]);
	else
		*go = fds[1];
	return pid;
}

/* Lets the child of hmm_mock_fork_checker() check. Returns 0, or -1. */
static inline int hmm_mock_go(int go)
{
	char c = 0;
	int ret = write(go, &c, 1) == 1 ? 0 : -1;

	close(go);
	return ret;
}

/*
 * A userfaultfd with @len bytes at @p registered in @mode
 * (UFFDIO_REGISTER_MODE_*), or -1 with errno set. Nothing serves its
 * faults: a test using it must not touch what it registered in a way that
 * would raise one.
 */
static inline int hmm_mock_uffd_register(void *p, size_t len, __u64 mode)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = (unsigned long)p, .len = len },
		.mode = mode,
	};
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg)) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/*
 * A page in another CPU's LRU batch carries a reference that CPU drops
 * only when it drains, and a migration skips the page until then. A test
 * that needs every page to move stays on one CPU, whose batches
 * migrate_vma_setup() drains; should a page still be held,
 * hmm_mock_drain_lru_batches() drops the page cache (never anonymous
 * pages), which drains every CPU's batches (6.12 and 7.x, not 6.1).
 * Returns 0 or errno; @was, if not NULL, keeps the mask to go back to.
 */
static inline int hmm_mock_stay_on_this_cpu_saving(cpu_set_t *was)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0 || (was && sched_getaffinity(0, sizeof(*was), was)))
		return errno;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? errno : 0;
}

/* Each test runs in a process of its own: most never give the CPUs back. */
static inline int hmm_mock_stay_on_this_cpu(void)
{
	return hmm_mock_stay_on_this_cpu_saving(NULL);
}

static inline void hmm_mock_drain_lru_batches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "1", 1) != 1)
			printf("# drop_caches: %s\n", strerror(errno));
		close(fd);
	}
}

/*
 * Starts a process that compacts memory without pause on every CPU but
 * this one, until hmm_mock_stop() or the caller's end: the kernel
 * migrates the caller's system pages under it, so a migration skips some
 * for a moment and hmm_range_fault() sees some in migration. Call it
 * before opening device files or mapping the memory under test: the child
 * shares neither. Returns its pid, or -errno (-ENOENT: no compaction).
 */
static inline pid_t hmm_mock_compact_elsewhere(void)
{
	int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC), cpu = sched_getcpu();
	pid_t parent = getpid(), pid;
	cpu_set_t set;
	int i;

	if (fd < 0)
		return -errno;
	fflush(NULL);	/* the child prints only if compaction stops */
	pid = fork();
	if (pid) {
		close(fd);
		return pid < 0 ? -errno : pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	CPU_ZERO(&set);
	for (i = 0; i < CPU_SETSIZE; i++)
		if (i != cpu)
			CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);	/* a single CPU: shares it */
	while (getppid() == parent)
		if (pwrite(fd, "1", 1, 0) != 1) {
			printf("# compaction stopped: %s\n", strerror(errno));
			fflush(stdout);
			break;
		}
	_exit(0);
}

/* Ends a helper process such as hmm_mock_compact_elsewhere()'s. */
static inline void hmm_mock_stop(pid_t pid)
{
	if (pid > 0 && !kill(pid, SIGKILL))
		waitpid(pid, NULL, 0);
}

#endif /* _HMM_MOCK_TEST_H */
