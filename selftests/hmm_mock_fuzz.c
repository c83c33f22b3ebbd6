// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz: random ioctls with wrong numbers, sizes and directions, edge
 * addresses and counts, bad buffers and argument pointers, on odd mappings
 * (PROT_NONE, hugetlb, THP, shared and private memfd and tmpfs files,
 * shared anonymous memory, a userfaultfd range, the device node's own
 * mmap, read-only memory, pages of the peer device, ranges straddling two
 * mappings or a hole). Every call must return in time with 0 or a
 * plausible errno; a call that the input checks reject (predicted here
 * from the ABI) must fail with their errno and change nothing: neither its
 * argument nor a canary range, half on the device, that it aimed at. At
 * the end the counters balance and a clean range still migrates and reads
 * back. A process that is not the file's opener gets -EPERM for every
 * command. All mappings live inside one PROT_NONE reservation with a guard
 * page around each, so a wild range can only reach the fuzzer's own.
 *
 * HMM_MOCK_FUZZ_SEED (printed), HMM_MOCK_FUZZ_CALLS (default 2000),
 * HMM_MOCK_FUZZ_TRACE=1 prints every call, and its result and the device
 * pages in use after it.
 * Fixture fuzz: every test runs on device-private and device-coherent memory.
 */
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_chaos.h"

#define TIMEOUT		300	/* harness timeout of each test */
#define BUDGET		200	/* seconds of calls before stopping early */
#define CALL_LIMIT	60	/* seconds one call may take */
#define RESERVE		(40UL << 20)
#define CANARY		8	/* pages; the first half on the device */
#define BUF_PAGES	520	/* more than the largest target */
#define KPTR		0xffff888000000000ULL
#define TOP4		((1ULL << 47) - 4096)	/* TASK_SIZE, 4-level paging */
#define TOP5		((1ULL << 56) - 4096)	/* TASK_SIZE, 5-level paging */

enum { ARG_OK, ARG_NULL, ARG_HOLE, ARG_KERNEL, ARG_RO, ARG_EDGE, NR_ARGS };
static const char *const arg_names[] = { "ok", "NULL", "hole", "kernel", "ro", "edge" };

struct target {
	const char *name;
	char *p;
	unsigned long npages;
	bool rw;		/* writable everywhere: fine for fault_in */
};

struct fuzz {
	int fd, peer, uffd, memfd, tmpfd;
	size_t page;
	bool coherent, unlocked, la57, populated;
	char *res, *cursor, *buf, *ro, *hole, *canary, *arg_rw, *arg_ro;
	struct target t[20];
	int nt;
	unsigned long long edges[16];
	int nedges;
	pthread_t uffd_thread, watchdog;
	bool uffd_running, watching;
	uint64_t busy_since;	/* microseconds, 0: no call running */
	char desc[320];
	unsigned long canary_ok_at;	/* call after which the canary was last fine */
};

FIXTURE(fuzz) {
	struct fuzz *f;
	struct hmm_mock_stats st0;
	uint64_t seed;
	const char *skipped;
};

FIXTURE_VARIANT(fuzz) {
	int id;
	int peer;
	bool coherent;
};

FIXTURE_VARIANT_ADD(fuzz, private) { .id = HMM_MOCK_PRIVATE0, .peer = 1, .coherent = false };
FIXTURE_VARIANT_ADD(fuzz, coherent) { .id = HMM_MOCK_COHERENT0, .peer = 3, .coherent = true };

static uint64_t usecs(void)
{
	return (uint64_t)(chaos_now() * 1e6) | 1;
}

/* Serves missing-page faults of the userfaultfd target with pattern pages. */
static void *uffd_main(void *arg)
{
	struct fuzz *f = arg;
	char *src = malloc(f->page);

	while (src) {
		struct pollfd pfd = { .fd = f->uffd, .events = POLLIN };
		struct uffdio_copy copy = { .len = f->page, .src = (uintptr_t)src };
		struct uffd_msg msg;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(f->uffd, &msg, sizeof(msg)) != sizeof(msg))
			break;	/* closed: the test is over */
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy.dst = msg.arg.pagefault.address & ~((uint64_t)f->page - 1);
		hmm_mock_fill(src, f->page, (int)(copy.dst >> 12));
		ioctl(f->uffd, UFFDIO_COPY, &copy);
	}
	free(src);
	return NULL;
}

/* Bounds every call: one that runs CALL_LIMIT seconds is reported and ends the test. */
static void *watchdog_main(void *arg)
{
	struct fuzz *f = arg;

	while (__atomic_load_n(&f->watching, __ATOMIC_RELAXED)) {
		uint64_t since = __atomic_load_n(&f->busy_since, __ATOMIC_ACQUIRE);

		if (since && usecs() - since > CALL_LIMIT * 1000000ULL) {
			dprintf(2, "# call still running after %d s: %s\n", CALL_LIMIT, f->desc);
			_exit(KSFT_FAIL);
		}
		usleep(200000);
	}
	return NULL;
}

/* Maps @npages at the reservation's cursor, after a guard page, aligned to @align. */
static char *place(struct fuzz *f, unsigned long npages, size_t align, int prot, int flags,
		   int fd, off_t off)
{
	uintptr_t at = ((uintptr_t)f->cursor + f->page + align - 1) & ~(align - 1);
	size_t len = npages * f->page;
	char *p;

	if (at + len + f->page > (uintptr_t)f->res + RESERVE)
		return MAP_FAILED;
	p = mmap((void *)at, len, prot, flags | MAP_FIXED, fd, off);
	if (p != MAP_FAILED)
		f->cursor = p + len;
	return p;
}

static void add_target(struct fuzz *f, const char *name, char *p, unsigned long npages, bool rw)
{
	if (p == MAP_FAILED)
		return;
	f->t[f->nt++] = (struct target){ name, p, npages, rw };
	if (rw && strcmp(name, "uffd"))
		hmm_mock_fill(p, npages * f->page, f->nt * 1000);
}

static bool in(const void *base, unsigned long npages, size_t page, unsigned long long a)
{
	return a >= (uintptr_t)base && a < (uintptr_t)base + npages * page;
}

static bool unmapped(void *p, size_t len)
{
	return madvise(p, len, MADV_NORMAL) && errno == ENOMEM;
}

/* The canary: first half on the device (local, writable), data intact. */
static int canary_check(struct fuzz *f, int fd, unsigned char *why)
{
	unsigned char want = hmm_mock_local_prot(f->coherent);
	unsigned char snap[CANARY];
	int i, ret;

	ret = hmm_mock_cmd(fd, HMM_DMIRROR_SNAPSHOT, f->canary, snap, CANARY, NULL);
	for (i = 0; !ret && i < CANARY; i++)
		if (snap[i] != ((i < CANARY / 2 ? want : 0) | HMM_DMIRROR_PROT_WRITE))
			return *why = snap[i], 1 + i;
	if (!ret)
		ret = hmm_mock_cmd(fd, HMM_DMIRROR_READ, f->canary, f->buf, CANARY, NULL);
	if (ret)
		return *why = -ret, 100;
	return hmm_mock_check(f->buf, CANARY * f->page, 4242) == -1 ? 0 : (*why = 0, 200);
}

/* Puts the canary's first half (back) on the device; FAIL_ALLOC may cost a try. */
static int canary_place(struct fuzz *f)
{
	int tries = 0, ret;

	do {
		ret = hmm_mock_cmd(f->fd, HMM_DMIRROR_MIGRATE_TO_DEV, f->canary, f->buf, CANARY / 2,
				   NULL);
	} while ((ret == -ENOENT || ret == -EBUSY) && ++tries < 4);
	return ret;
}

FIXTURE_SETUP(fuzz)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	const unsigned long long edges[] = {
		0, 4096, 0x10000, TOP4 - 4096, TOP4 - 64, TOP4, 1ULL << 47, TOP5, 1ULL << 63, KPTR,
		0xffffffff81000000ULL, ~0ULL & ~4095ULL, ~0ULL,
	};
	char tmpl[] = "/dev/shm/hmm-mock-fuzz-XXXXXX", line[4096], *p;
	struct fuzz *f;
	const char *why;
	unsigned int i;
	FILE *cpu;
	int err;

	self->seed = chaos_seed("HMM_MOCK_FUZZ_SEED");
	f = calloc(1, sizeof(*f));
	self->f = f;
	ASSERT_NE(NULL, f);
	f->page = sysconf(_SC_PAGESIZE);
	f->coherent = variant->coherent;
	f->uffd = -1;
	f->memfd = -1;
	f->tmpfd = -1;
	f->peer = -1;
	HMM_MOCK_OPEN_OR_SKIP(f->fd, variant->id, self->skipped);
	self->st0 = hmm_mock_stats(f->fd);
	f->peer = hmm_mock_open(variant->peer, &why, &err);

	cpu = fopen("/proc/cpuinfo", "r");
	while (cpu && fgets(line, sizeof(line), cpu))
		f->la57 |= !strncmp(line, "flags", 5) && strstr(line, " la57");
	if (cpu)
		fclose(cpu);

	f->res = mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, f->res);
	f->cursor = f->res;
	f->memfd = memfd_create("hmm-mock-fuzz", 0);
	ASSERT_LE(0, f->memfd);
	ASSERT_EQ(0, ftruncate(f->memfd, 17 * f->page));
	f->tmpfd = mkstemp(tmpl);
	if (f->tmpfd < 0) {
		snprintf(tmpl, sizeof(tmpl), "/tmp/hmm-mock-fuzz-XXXXXX");
		f->tmpfd = mkstemp(tmpl);
	}
	ASSERT_LE(0, f->tmpfd);
	unlink(tmpl);
	ASSERT_EQ(0, ftruncate(f->tmpfd, 16 * f->page));

#define RW	(PROT_READ | PROT_WRITE)
#define ANON	(MAP_PRIVATE | MAP_ANONYMOUS)
	f->canary = place(f, CANARY, f->page, RW, ANON, -1, 0);
	f->buf = place(f, BUF_PAGES, f->page, RW, ANON, -1, 0);
	f->ro = place(f, 16, f->page, PROT_READ, ANON, -1, 0);
	f->arg_rw = place(f, 1, f->page, RW, MAP_SHARED, f->memfd, 16 * f->page);
	f->arg_ro = place(f, 1, f->page, PROT_READ, MAP_SHARED, f->memfd, 16 * f->page);
	ASSERT_TRUE(f->canary != MAP_FAILED && f->buf != MAP_FAILED && f->ro != MAP_FAILED &&
		    f->arg_rw != MAP_FAILED && f->arg_ro != MAP_FAILED);
	f->hole = f->cursor + f->page;	/* unmapped at the end of the setup */
	f->cursor += 6 * f->page;

	add_target(f, "anon", place(f, 64, f->page, RW, ANON, -1, 0), 64, true);
	p = place(f, 512, TWO_MB, RW, ANON, -1, 0);
	if (p != MAP_FAILED)
		madvise(p, TWO_MB, MADV_HUGEPAGE);
	add_target(f, "thp", p, 512, true);
	add_target(f, "shared_anon", place(f, 16, f->page, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0),
		   16, true);
	add_target(f, "memfd_shared", place(f, 16, f->page, RW, MAP_SHARED, f->memfd, 0), 16, true);
	add_target(f, "memfd_private", place(f, 16, f->page, RW, MAP_PRIVATE, f->memfd, 0), 16,
		   true);
	add_target(f, "tmpfs_shared", place(f, 16, f->page, RW, MAP_SHARED, f->tmpfd, 0), 16, true);
	add_target(f, "tmpfs_private", place(f, 16, f->page, RW, MAP_PRIVATE, f->tmpfd, 0), 16,
		   true);
	add_target(f, "hugetlb", place(f, 512, TWO_MB, RW, ANON | MAP_HUGETLB, -1, 0), 512, true);
	add_target(f, "prot_none", place(f, 8, f->page, PROT_NONE, ANON, -1, 0), 8, false);
	add_target(f, "readonly", place(f, 8, f->page, RW, ANON, -1, 0), 8, true);
	ASSERT_EQ(0, mprotect(f->t[f->nt - 1].p, 8 * f->page, PROT_READ));
	f->t[f->nt - 1].rw = false;
	/* Two mappings back to back: read-write, then read-only. */
	add_target(f, "straddle", place(f, 16, f->page, RW, ANON, -1, 0), 16, true);
	ASSERT_EQ(0, mprotect(f->t[f->nt - 1].p + 8 * f->page, 8 * f->page, PROT_READ));
	f->t[f->nt - 1].rw = false;
	/* Four pages, a hole of four (at the end of the setup), four pages. */
	add_target(f, "hole", place(f, 12, f->page, RW, ANON, -1, 0), 12, true);
	f->t[f->nt - 1].rw = false;
	add_target(f, "node_shared", place(f, 8, f->page, RW, MAP_SHARED, f->fd, 0), 8, true);
	add_target(f, "node_private", place(f, 8, f->page, RW, MAP_PRIVATE, f->fd, 0), 8, true);
	p = place(f, 8, f->page, RW, ANON, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	if (f->peer >= 0) {
		/* Pages of the other device of the same kind. */
		add_target(f, "remote", p, 8, true);
		hmm_mock_cmd(f->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, f->buf, 8, NULL);
	}
	p = place(f, 16, f->page, RW, ANON, -1, 0);
	f->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (p != MAP_FAILED && f->uffd >= 0 && !ioctl(f->uffd, UFFDIO_API, &api)) {
		reg.range.start = (uintptr_t)p;
		reg.range.len = 16 * f->page;
		if (!ioctl(f->uffd, UFFDIO_REGISTER, &reg) &&
		    !pthread_create(&f->uffd_thread, NULL, uffd_main, f)) {
			f->uffd_running = true;
			add_target(f, "uffd", p, 16, true);
		}
	}
	/* Edge addresses; those below TASK_SIZE only where surely unmapped. */
	for (i = 0; i < ARRAY_SIZE(edges); i++)
		if (edges[i] >= TOP4 || unmapped((void *)(uintptr_t)(edges[i] & ~4095ULL), 4096))
			f->edges[f->nedges++] = edges[i];

	hmm_mock_fill(f->canary, CANARY * f->page, 4242);
	ASSERT_EQ(0, canary_place(f));
	f->unlocked = hmm_mock_cmd(f->fd, HMM_DMIRROR_READ_UNLOCKED, f->canary, f->buf, 0,
				   NULL) != -ENOTTY;
	f->watching = !pthread_create(&f->watchdog, NULL, watchdog_main, f);
	ASSERT_TRUE(f->watching);
	/* Holes last: no thread stack or allocation of the setup lands in them. */
	ASSERT_EQ(0, munmap(f->hole, 4 * f->page));
	for (i = 0; i < (unsigned int)f->nt; i++)
		if (!strcmp(f->t[i].name, "hole"))
			ASSERT_EQ(0, munmap(f->t[i].p + 4 * f->page, 4 * f->page));
}

FIXTURE_TEARDOWN(fuzz)
{
	struct fuzz *f = self->f;

	if (!f)
		return;
	if (f->watching) {
		__atomic_store_n(&f->watching, false, __ATOMIC_RELAXED);
		pthread_join(f->watchdog, NULL);
	}
	if (f->uffd >= 0)
		close(f->uffd);
	if (f->uffd_running)
		pthread_join(f->uffd_thread, NULL);
	if (f->res && f->res != MAP_FAILED)
		munmap(f->res, RESERVE);
	if (f->memfd >= 0)
		close(f->memfd);
	if (f->tmpfd >= 0)
		close(f->tmpfd);
	if (f->peer >= 0)
		close(f->peer);
	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

struct call {
	unsigned long op;
	int arg;
	const struct target *t;	/* what addr was drawn from, or NULL */
	struct hmm_dmirror_cmd cmd;
};

static bool is_dmirror(unsigned long op)
{
	unsigned int i;

	for (i = 0; i < CHAOS_NR_DMIRROR_OPS; i++)
		if (op == chaos_dmirror_ops[i])
			return true;
	return false;
}

static bool is_stats(unsigned long op)
{
	return _IOC_DIR(op) == _IOC_READ && _IOC_TYPE(op) == HMM_MOCK_IOC_TYPE && !_IOC_NR(op) &&
	       (_IOC_SIZE(op) == sizeof(struct hmm_mock_stats) ||
		_IOC_SIZE(op) == offsetof(struct hmm_mock_stats, large_folio_pages));
}

static bool is_range_op(unsigned long op)
{
	return is_dmirror(op) && op != HMM_DMIRROR_RELEASE && op != HMM_DMIRROR_FLAGS;
}

/* Bytes of cmd.ptr that command @op uses (the driver's own rule). */
static unsigned long long buf_size(unsigned long op, unsigned long long npages, size_t page)
{
	if (op == HMM_DMIRROR_SNAPSHOT)
		return npages;
	if (op == HMM_DMIRROR_READ || op == HMM_DMIRROR_WRITE || op == HMM_DMIRROR_READ_UNLOCKED ||
	    op == HMM_DMIRROR_MIGRATE_TO_DEV || op == HMM_DMIRROR_EXCLUSIVE)
		return npages * page;
	return 0;
}

static unsigned long gen_op(uint64_t *r)
{
	static const unsigned char weight[] = { 12, 12, 14, 12, 10, 8, 4, 2, 3, 3 };
	unsigned int i, x = chaos_below(r, 100), sizes[] = { 0, 8, 39, 40, 41, 56, 88, 0x3fff };

	for (i = 0; i < CHAOS_NR_DMIRROR_OPS; x -= weight[i++])
		if (x < weight[i])
			return chaos_dmirror_ops[i];
	if (x < 5)
		return x < 3 ? HMM_MOCK_STATS : _IOC(chaos_below(r, 4), HMM_MOCK_IOC_TYPE, 0,
						      sizes[chaos_below(r, 8)]);
	if (x < 10)
		return chaos_dmirror_ops[chaos_below(r, CHAOS_NR_DMIRROR_OPS)] ^
		       (1UL << chaos_below(r, 32));
	if (x < 13)
		return (uint32_t)chaos_next(r);
	return _IOC(chaos_below(r, 4), chaos_below(r, 2) ? 'H' : HMM_MOCK_IOC_TYPE,
		    chaos_below(r, 0x20), chaos_below(r, 2) ? sizes[chaos_below(r, 8)] :
		    chaos_below(r, 65));
}

/* A random call; @canary: whether its range may start in the canary. */
static void gen_call(struct fuzz *f, uint64_t *r, struct call *c, bool canary)
{
	static struct target can;
	unsigned long long addr, n, ptr, x;
	const struct target *t = NULL;
	long pg;

	can = (struct target){ "canary", f->canary, CANARY, true };
	memset(c, 0, sizeof(*c));
	c->op = gen_op(r);
	x = chaos_below(r, 100);
	if (x < 75) {
		t = canary && chaos_below(r, 6) == 0 ? &can : &f->t[chaos_below(r, f->nt)];
		pg = (long)chaos_below(r, t->npages + 2) - 1;
		addr = (uintptr_t)t->p + pg * (long)f->page;
		if (chaos_below(r, 10) == 0)
			addr += 1 + chaos_below(r, f->page - 1);
	} else if (x < 80) {
		addr = (uintptr_t)f->res + (chaos_below(r, RESERVE) & ~(f->page - 1));
	} else if (x < 85) {
		addr = chaos_next(r) | 1ULL << 63;
	} else {
		addr = f->edges[chaos_below(r, f->nedges)];
	}
	x = chaos_below(r, 100);
	if (x < 55) {
		n = 1 + chaos_below(r, t ? t->npages + 2 : 16);
	} else if (x < 75) {
		n = x < 65 ? 0 : 1;
	} else {
		const unsigned long long edge[] = {
			1ULL << 20, 1ULL << 35, TOP4 / f->page, (TOP4 - addr) / f->page,
			(TOP4 - addr) / f->page + 1, ~0ULL, ~0ULL / f->page, -addr / f->page,
			-addr / f->page + 1, 1ULL << 52, chaos_next(r),
		};
		n = edge[chaos_below(r, ARRAY_SIZE(edge))];
	}
	x = chaos_below(r, 100);
	if (x < (n > BUF_PAGES ? 30 : 60)) {
		ptr = (uintptr_t)f->buf;
	} else {
		const unsigned long long bad[] = {
			0, (uintptr_t)f->hole, KPTR, (uintptr_t)f->ro, (uintptr_t)f->res, addr,
			(uintptr_t)f->buf + BUF_PAGES * f->page - 8, (uintptr_t)f->buf + 1,
			(uintptr_t)f->t[chaos_below(r, f->nt)].p, ~0ULL - 7,
		};
		ptr = bad[chaos_below(r, ARRAY_SIZE(bad))];
	}
	x = chaos_below(r, 100);
	c->arg = x < 85 ? ARG_OK : 1 + chaos_below(r, NR_ARGS - 1);
	c->t = t;
	c->cmd = (struct hmm_dmirror_cmd){ addr, ptr, n, 0x5a5a5a5a, 0xa5a5a5a5 };
}

/* Whether [@p, @p + @len) ends within TASK_SIZE: 1, 0, or -1 (unknown). */
static int user_range(struct fuzz *f, unsigned long long p, unsigned long long len)
{
	unsigned long long end = p + len;

	if (end < p)
		return 0;
	if (end <= TOP4)
		return 1;
	return f->la57 && end <= TOP5 ? -1 : 0;
}

/* Whether fault_in_safe_writeable() of the buffer succeeds: 1, 0, or -1. */
static int writable(struct fuzz *f, unsigned long long p, unsigned long long len)
{
	uintptr_t b = (uintptr_t)f->buf;
	int i;

	if (p >= b && p + len >= p && p + len <= b + BUF_PAGES * f->page)
		return 1;
	for (i = 0; i < f->nt; i++)
		if (f->t[i].rw && p + len >= p && in(f->t[i].p, f->t[i].npages, f->page, p) &&
		    p + len <= (uintptr_t)f->t[i].p + f->t[i].npages * f->page)
			return 1;
	if (p < 0x10000 || (p >= (uintptr_t)f->hole && p < (uintptr_t)f->hole + 4 * f->page) ||
	    (p >= (uintptr_t)f->ro && p < (uintptr_t)f->ro + 16 * f->page) ||
	    (p >= (uintptr_t)f->res && p < (uintptr_t)f->res + f->page))
		return 0;
	for (i = 0; i < f->nt; i++)
		if (!strcmp(f->t[i].name, "prot_none") && p >= (uintptr_t)f->t[i].p &&
		    p < (uintptr_t)f->t[i].p + f->t[i].npages * f->page)
			return 0;
	return -1;
}

#define UNSURE	1	/* predict(): whether the checks pass cannot be told here */

/*
 * What the input checks of chardev.c make of @c: 0 when it passes them,
 * UNSURE, or the -errno it must fail with (@alt: another acceptable one).
 */
static int predict(struct fuzz *f, const struct call *c, int *alt)
{
	unsigned long long a = c->cmd.addr, n = c->cmd.npages, size, top4, top5;
	int range, buf = 1;

	*alt = 0;
	/* The VFS answers some numbers of other types itself (FIOCLEX, ...). */
	if (_IOC_TYPE(c->op) != 'H' && _IOC_TYPE(c->op) != HMM_MOCK_IOC_TYPE)
		return UNSURE;
	if (!is_dmirror(c->op))
		return !is_stats(c->op) ? -ENOTTY : c->arg == ARG_OK ? 0 : -EFAULT;
	if (c->op == HMM_DMIRROR_READ_UNLOCKED && !f->unlocked)
		return -ENOTTY;
	if (c->arg != ARG_OK && c->arg != ARG_RO)
		return -EFAULT;
	if (c->op == HMM_DMIRROR_RELEASE)
		return 0;
	if (c->op == HMM_DMIRROR_FLAGS)
		return n & ~HMM_DMIRROR_FLAG_FAIL_ALLOC ? -EINVAL : 0;
	top4 = TOP4 / f->page;
	top5 = f->la57 ? TOP5 / f->page : top4;
	range = !(a & (f->page - 1)) && n;
	if (range) {
		int r4 = a < TOP4 && n <= top4 - a / f->page;
		int r5 = a < top5 * f->page && n <= top5 - a / f->page;

		range = r4 == r5 ? r4 : -1;
	}
	size = buf_size(c->op, n, f->page);
	if (size && n > ~0ULL / f->page)
		buf = 0;
	else if (size)
		buf = user_range(f, c->cmd.ptr, size);
	if (buf == 1 && size &&
	    (c->op == HMM_DMIRROR_MIGRATE_TO_DEV || c->op == HMM_DMIRROR_EXCLUSIVE))
		buf = writable(f, c->cmd.ptr, size);
	if (!range) {
		*alt = buf != 1 ? -EFAULT : 0;
		return -EINVAL;
	}
	if (range < 0)
		return UNSURE;
	return buf == 0 ? -EFAULT : buf < 0 ? UNSURE : 0;
}

static bool plausible(int ret)
{
	return ret == -EINVAL || ret == -EFAULT || ret == -EPERM || ret == -ENOENT ||
	       ret == -EBUSY || ret == -ENOTTY || ret == -EOPNOTSUPP || ret == -ENOMEM ||
	       ret == -EINTR;
}

static void describe(struct fuzz *f, char *s, size_t len, unsigned long i, uint64_t seed,
		     const struct call *c)
{
	const char *name = chaos_op_name(c->op);
	long off = c->t ? ((long)c->cmd.addr - (long)(uintptr_t)c->t->p) / (long)f->page : 0;

	snprintf(s, len,
		 "seed %#llx call %lu: %s(%#lx) arg %s addr %#llx (%s%+ld) npages %#llx ptr %#llx",
		 (unsigned long long)seed, i, name ? name : "ioctl", c->op, arg_names[c->arg],
		 (unsigned long long)c->cmd.addr, c->t ? c->t->name : "edge", off,
		 (unsigned long long)c->cmd.npages, (unsigned long long)c->cmd.ptr);
}

/* The argument pointer @c asks for, with the command in it where readable. */
static void *arg_ptr(struct fuzz *f, const struct call *c, void *ok)
{
	switch (c->arg) {
	case ARG_NULL:
		return NULL;
	case ARG_HOLE:
		return f->hole;
	case ARG_KERNEL:
		return (void *)(uintptr_t)KPTR;
	case ARG_RO:
		memcpy(f->arg_rw, &c->cmd, sizeof(c->cmd));
		return f->arg_ro;
	case ARG_EDGE:
		return f->buf + BUF_PAGES * f->page - 16;
	default:
		return ok;
	}
}

/*
 * Device faults do not let a userfaultfd handler in (no FAULT_FLAG_ALLOW_RETRY;
 * DEBUG_VM kernels dump a stack for it): the CPU faults the target in, through
 * the handler, before the first READ, WRITE or EXCLUSIVE that may reach it.
 */
static void populate_uffd(struct fuzz *f, const struct call *c)
{
	const struct target *u = &f->t[f->nt - 1];
	char *p;

	if (f->populated || !f->uffd_running || !in(u->p, u->npages, f->page, c->cmd.addr) ||
	    (c->op != HMM_DMIRROR_READ && c->op != HMM_DMIRROR_WRITE &&
	     c->op != HMM_DMIRROR_EXCLUSIVE))
		return;
	for (p = u->p; p < u->p + u->npages * f->page; p += f->page)
		(void)__atomic_load_n(p, __ATOMIC_RELAXED);
	f->populated = true;
}

/* Why the call's outcome is wrong, or NULL. */
static const char *judge(struct fuzz *f, const struct call *c, int want, int alt, int ret,
			 const void *arg, const void *before)
{
	const struct hmm_dmirror_cmd *out = arg;
	const struct hmm_mock_stats *st = arg;
	const unsigned char *b = arg;
	unsigned long i;

	if (want < 0) {
		if (ret != want && ret != alt)
			return "rejected by input checks, but not with their errno";
		if (c->arg == ARG_OK && memcmp(arg, before, 128))
			return "rejected, but wrote to its argument";
		return NULL;
	}
	if (ret && !plausible(ret))
		return "implausible errno";
	if (!ret && c->arg == ARG_RO && is_dmirror(c->op))
		return "succeeded although the result could not be written back";
	if (ret || c->arg != ARG_OK)
		return NULL;
	if (is_stats(c->op)) {
		for (i = _IOC_SIZE(c->op); i < 128; i++)
			if (b[i] != 0xa5)
				return "STATS wrote beyond its size";
		return st->pages_total == st->pages_free + st->pages_in_use ? NULL :
		       "STATS does not balance";
	}
	if (!is_dmirror(c->op))
		return NULL;	/* another type's number, which the VFS answered */
	if (buf_size(c->op, 1, 1) || c->op == HMM_DMIRROR_SNAPSHOT)
		return out->cpages == c->cmd.npages ? NULL : "succeeded with cpages != npages";
	if (c->op == HMM_DMIRROR_MIGRATE_TO_SYS)
		return out->cpages <= c->cmd.npages ? NULL : "moved more pages than asked";
	return out->cpages || out->faults ? "cpages or faults set" : NULL;
}

/* Makes call @c and judges it against @want and @alt; returns why it is wrong, or NULL. */
static const char *run_call(struct fuzz *f, const struct call *c, int want, int alt, int *ret)
{
	unsigned char u[128], before[128];

	memset(u, 0xa5, sizeof(u));
	if (is_dmirror(c->op))
		memcpy(u, &c->cmd, sizeof(c->cmd));
	memcpy(before, u, sizeof(u));
	__atomic_store_n(&f->busy_since, usecs(), __ATOMIC_RELEASE);
	*ret = ioctl(f->fd, c->op, arg_ptr(f, c, u)) ? -errno : 0;
	__atomic_store_n(&f->busy_since, 0, __ATOMIC_RELEASE);
	return judge(f, c, want, alt, *ret, u, before);
}

TEST_F_TIMEOUT(fuzz, random_calls_fail_cleanly_or_work, TIMEOUT)
{
	unsigned long calls = chaos_env("HMM_MOCK_FUZZ_CALLS", 2000, 1, ~0UL), i, bad = 0;
	unsigned long rejected = 0, passed = 0, succeeded = 0, checks = 0;
	bool trace = chaos_env("HMM_MOCK_FUZZ_TRACE", 0, 0, 1);
	uint64_t r = chaos_state(self->seed, variant->id);
	double end = chaos_now() + BUDGET;
	struct hmm_mock_stats st;
	struct fuzz *f = self->f;
	unsigned char why;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	TH_LOG("seed %#llx (HMM_MOCK_FUZZ_SEED), %lu calls, %d targets",
	       (unsigned long long)self->seed, calls, f->nt);
	for (i = 0; i < calls && chaos_now() < end; i++) {
		const char *wrong;
		int want, alt, ret;
		struct call c;

		/* Only calls the input checks reject may start in the canary. */
		do {
			gen_call(f, &r, &c, true);
			want = predict(f, &c, &alt);
		} while (want >= 0 && is_range_op(c.op) &&
			 in(f->canary, CANARY, f->page, c.cmd.addr));
		populate_uffd(f, &c);
		describe(f, f->desc, sizeof(f->desc), i, self->seed, &c);
		if (trace)
			fprintf(stderr, "# %s\n", f->desc);
		wrong = run_call(f, &c, want, alt, &ret);
		if (trace && !ioctl(f->fd, HMM_MOCK_STATS, &st))
			fprintf(stderr, "# -> %d, device pages in use %llu\n", ret,
				(unsigned long long)st.pages_in_use);
		rejected += want < 0;
		passed += !want;
		succeeded += !ret;
		/* RELEASE evicted the canary too, or some of it (-EBUSY). */
		if (!wrong && c.op == HMM_DMIRROR_RELEASE && canary_place(f))
			wrong = "the canary did not migrate back after RELEASE";
		if (!wrong && (i % 64 == 0 || c.op == HMM_DMIRROR_RELEASE ||
			       (want < 0 && in(f->canary, CANARY, f->page, c.cmd.addr)))) {
			checks++;
			if (canary_check(f, f->fd, &why))
				wrong = "the canary changed (since the last check)";
			else
				f->canary_ok_at = i;
		}
		if (wrong && bad++ < 10)
			TH_LOG("%s: %s: returned %d (%s), predicted %d/%d; canary fine at call %lu",
			       f->desc, wrong, ret, strerror(-ret), want, alt, f->canary_ok_at);
	}
	TH_LOG("%lu calls: %lu rejected by input checks, %lu passed them, %lu unsure; "
	       "%lu succeeded; %lu canary checks", i, rejected, passed, i - rejected - passed,
	       succeeded, checks);
	if (i < calls)
		TH_LOG("stopped after %d s, before HMM_MOCK_FUZZ_CALLS=%lu", BUDGET, calls);
	EXPECT_EQ(0UL, bad);
	EXPECT_EQ(0, canary_check(f, f->fd, &why)) TH_LOG("canary: %#x", why);

	/* Balanced once every mapping is gone; a clean range still works. */
	ASSERT_EQ(0, hmm_mock_cmd(f->fd, HMM_DMIRROR_FLAGS, NULL, NULL, 0, NULL));
	ASSERT_EQ(0, munmap(f->res, RESERVE));
	f->res = NULL;
	st = hmm_mock_stats(f->fd);
	EXPECT_EQ(self->st0.pages_in_use, st.pages_in_use);
	EXPECT_EQ(0, hmm_mock_cmd(f->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL));
	st = hmm_mock_stats(f->fd);
	EXPECT_EQ(st.pages_total, st.pages_free + st.pages_in_use);
	p = mmap(NULL, 32 * f->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, 32 * f->page, MADV_NOHUGEPAGE);
	hmm_mock_fill(p, 16 * f->page, 777);
	ASSERT_EQ(0, hmm_mock_cmd(f->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, p + 16 * f->page, 16,
				  NULL));
	EXPECT_EQ(-1, hmm_mock_check(p + 16 * f->page, 16 * f->page, 777));
	EXPECT_SNAPSHOT(f->fd, p, 16,
			hmm_mock_local_prot(variant->coherent) | HMM_DMIRROR_PROT_WRITE);
	memset(p + 16 * f->page, 0, 16 * f->page);
	ASSERT_EQ(0, hmm_mock_cmd(f->fd, HMM_DMIRROR_READ, p, p + 16 * f->page, 16, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p + 16 * f->page, 16 * f->page, 777));
	EXPECT_EQ(-1, hmm_mock_check(p, 16 * f->page, 777));
	ASSERT_EQ(0, munmap(p, 32 * f->page));
	st = hmm_mock_stats(f->fd);
	EXPECT_EQ(self->st0.pages_in_use, st.pages_in_use);
}

/* A process that did not open the file: -EPERM for every command, whatever its argument. */
TEST_F_TIMEOUT(fuzz, other_process_gets_eperm_for_every_call, TIMEOUT)
{
	unsigned long calls = chaos_env("HMM_MOCK_FUZZ_CALLS", 2000, 1, ~0UL) / 4 + 1, i;
	uint64_t r = chaos_state(self->seed, 100 + variant->id);
	struct fuzz *f = self->f;
	char msg[400] = "";
	int pipefd[2];
	ssize_t len;
	pid_t pid;

	SKIP_IF_SETUP_SKIPPED();
	TH_LOG("seed %#llx (HMM_MOCK_FUZZ_SEED), %lu calls", (unsigned long long)self->seed, calls);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		alarm(TIMEOUT / 2);
		for (i = 0; i < calls; i++) {
			const char *wrong;
			int want, alt, ret;
			struct call c;

			gen_call(f, &r, &c, true);
			want = predict(f, &c, &alt);
			if (is_dmirror(c.op) && want != -ENOTTY) {
				want = -EPERM;
				alt = 0;
			}
			wrong = run_call(f, &c, want, alt, &ret);
			if (wrong) {
				describe(f, msg, sizeof(msg), i, self->seed, &c);
				dprintf(pipefd[1], "%s: %s: returned %d", msg, wrong, ret);
				_exit(1);
			}
		}
		_exit(0);
	}
	close(pipefd[1]);
	len = read(pipefd[0], msg, sizeof(msg) - 1);
	msg[len > 0 ? len : 0] = 0;
	close(pipefd[0]);
	EXPECT_CHILD_OK(pid);
	EXPECT_EQ(0, msg[0]) TH_LOG("%s", msg);
}

/*
 * Every ioctl number of types 'H' and hmm-mock's with numbers 0..0x10 and
 * sizes 0..64 (and HMM_MOCK_STATS's and the largest), each direction, with
 * a readable argument and with NULL: only the ABI's numbers do anything.
 */
TEST_F_TIMEOUT(fuzz, ioctl_numbers_outside_the_abi_are_rejected, TIMEOUT)
{
	const unsigned int types[] = { 'H', HMM_MOCK_IOC_TYPE };
	unsigned long i, calls = 0, bad = 0;
	struct fuzz *f = self->f;
	unsigned char why;

	SKIP_IF_SETUP_SKIPPED();
	/* One loop over dir, type, nr, size (65: the stats' size, 66: the largest), NULL arg. */
	for (i = 0; i < 4 * 2 * 17 * 67 * 2; i++) {
		unsigned int dir = i / (2 * 17 * 67 * 2), type = i / (17 * 67 * 2) % 2;
		unsigned int nr = i / (67 * 2) % 17, size = i / 2 % 67, null = i % 2;
		unsigned int sz = size == 65 ? sizeof(struct hmm_mock_stats) :
				  size == 66 ? 0x3fff : size;
		struct call c = { .op = _IOC(dir, types[type], nr, sz),
				  .arg = null ? ARG_NULL : ARG_OK,
				  .cmd = { (uintptr_t)f->canary, (uintptr_t)f->buf, 0, 0, 0 } };
		const char *wrong;
		int want, alt, ret;

		if (c.op == HMM_DMIRROR_RELEASE)
			continue;	/* valid, and evicts: the random test has it */
		want = predict(f, &c, &alt);
		wrong = run_call(f, &c, want, alt, &ret);
		calls++;
		if (wrong && bad++ < 10)
			TH_LOG("ioctl %#lx (dir %u type %#x nr %#x size %u)%s: %s: %d, want %d",
			       c.op, dir, types[type], nr, sz, null ? " on NULL" : "", wrong, ret,
			       want);
	}
	TH_LOG("%lu ioctl numbers tried", calls);
	EXPECT_EQ(0UL, bad);
	EXPECT_EQ(0, canary_check(f, f->fd, &why)) TH_LOG("canary: %#x", why);
	EXPECT_EQ(0, hmm_mock_cmd(f->fd, HMM_DMIRROR_FLAGS, NULL, NULL, 0, NULL));
}

TEST_HARNESS_MAIN
