/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The calls of hmm_mock_fuzz: the fuzzer's state (its reservation, the
 * targets mapped in it, the canary), how a random call is drawn, what the
 * input checks of chardev.c must make of it (predicted from the ABI), and
 * how one is made and judged. The setup that maps the targets stays with
 * the tests. Include after kselftest_harness.h (ARRAY_SIZE),
 * hmm_mock_test.h and hmm_mock_chaos.h.
 */
#ifndef _HMM_MOCK_FUZZ_H
#define _HMM_MOCK_FUZZ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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

static uint64_t usecs(void)
{
	return (uint64_t)(hmm_mock_now() * 1e6) | 1;
}

static bool in(const void *base, unsigned long npages, size_t page, unsigned long long a)
{
	return a >= (uintptr_t)base && a < (uintptr_t)base + npages * page;
}

struct call {
	unsigned long op;
	int arg;
	const struct target *t;	/* what addr was drawn from, or NULL */
	struct hmm_dmirror_cmd cmd;
	unsigned int info_size;	/* PAGE_INFO's entry size; 0: 0xa5 bytes instead */
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
		_IOC_SIZE(op) == offsetof(struct hmm_mock_stats, fault_around_pages) ||
		_IOC_SIZE(op) == offsetof(struct hmm_mock_stats, settle_sleeps) ||
		_IOC_SIZE(op) == offsetof(struct hmm_mock_stats, large_folio_pages));
}

/* HMM_MOCK_INJECT, also as callers that know only its first four knobs. */
static bool is_inject(unsigned long op)
{
	return _IOC_DIR(op) == _IOC_WRITE && _IOC_TYPE(op) == HMM_MOCK_IOC_TYPE &&
	       _IOC_NR(op) == _IOC_NR(HMM_MOCK_INJECT) &&
	       (_IOC_SIZE(op) == sizeof(struct hmm_mock_inject) ||
		_IOC_SIZE(op) == offsetof(struct hmm_mock_inject, settle_delay_ms));
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
	static const unsigned long own[] = {
		HMM_MOCK_STATS, HMM_MOCK_CHECK_FREE, HMM_MOCK_PAGE_INFO, HMM_MOCK_INJECT,
	};
	unsigned int i, x = chaos_below(r, 100), sizes[] = { 0, 8, 39, 40, 41, 56, 88, 96, 0x3fff };

	for (i = 0; i < CHAOS_NR_DMIRROR_OPS; x -= weight[i++])
		if (x < weight[i])
			return chaos_dmirror_ops[i];
	if (x < 5)
		return x < 4 ? own[x] : _IOC(chaos_below(r, 4), HMM_MOCK_IOC_TYPE, 0,
					     sizes[chaos_below(r, 9)]);
	if (x < 10)
		return chaos_dmirror_ops[chaos_below(r, CHAOS_NR_DMIRROR_OPS)] ^
		       (1UL << chaos_below(r, 32));
	if (x < 13)
		return (uint32_t)chaos_next(r);
	return _IOC(chaos_below(r, 4), chaos_below(r, 2) ? 'H' : HMM_MOCK_IOC_TYPE,
		    chaos_below(r, 0x20), chaos_below(r, 2) ? sizes[chaos_below(r, 9)] :
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
	if (c->op == HMM_MOCK_PAGE_INFO) {
		const unsigned int size[] = { 0, 31, 32, 33, f->page, f->page + 1 };

		c->info_size = size[chaos_below(r, ARRAY_SIZE(size))];
	}
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
 * Whether @n pages from @a are a range the driver accepts (aligned,
 * non-empty, below TASK_SIZE): 1, 0, or -1 when that depends on whether
 * the machine has 5-level page tables.
 */
static int range_ok(const struct fuzz *f, unsigned long long a, unsigned long long n)
{
	unsigned long long top4 = TOP4 / f->page, top5 = f->la57 ? TOP5 / f->page : top4;
	int r4, r5;

	if ((a & (f->page - 1)) || !n)
		return 0;
	r4 = a < TOP4 && n <= top4 - a / f->page;
	r5 = a < top5 * f->page && n <= top5 - a / f->page;
	return r4 == r5 ? r4 : -1;
}

/* PAGE_INFO with a real command (ARG_OK, c->info_size set). */
static int predict_page_info(struct fuzz *f, const struct call *c)
{
	unsigned long long n = c->cmd.npages, size = n * c->info_size;
	int range, buf;

	if (c->info_size < 32 || c->info_size > f->page)
		return -EINVAL;
	range = range_ok(f, c->cmd.addr, n);
	if (range <= 0)
		return range ? UNSURE : -EINVAL;
	if (n > ~0ULL / c->info_size)
		return -EFAULT;
	buf = user_range(f, c->cmd.ptr, size);
	if (!buf)
		return -EFAULT;
	return buf == 1 && writable(f, c->cmd.ptr, size) == 1 ? 0 : UNSURE;
}

/*
 * What hmm-mock's own commands other than STATS make of @c (0, UNSURE or
 * -errno), the driver's rules for their argument: CHECK_FREE only writes
 * it; PAGE_INFO and INJECT read it first and reject an argument whose pad
 * is not zero (PAGE_INFO) or a knob out of range (INJECT). run_call() hands them 0xa5 bytes for ARG_OK (PAGE_INFO: a
 * real command when the call has an entry size) and the HMM_DMIRROR
 * command for ARG_RO.
 */
static int predict_own(struct fuzz *f, const struct call *c)
{
	const struct hmm_dmirror_cmd *a = &c->cmd;

	if (c->op == HMM_MOCK_CHECK_FREE)
		return c->arg == ARG_OK ? 0 : -EFAULT;
	if (is_inject(c->op) && geteuid())
		return -EPERM;	/* CAP_SYS_ADMIN, checked first */
	if (c->op != HMM_MOCK_PAGE_INFO && !is_inject(c->op))
		return -ENOTTY;
	if (c->arg == ARG_EDGE)
		return UNSURE;
	if (c->op == HMM_MOCK_PAGE_INFO && c->arg == ARG_OK && c->info_size)
		return predict_page_info(f, c);
	if (c->arg != ARG_RO)
		return c->arg == ARG_OK ? -EINVAL : -EFAULT;
	if (c->op == HMM_MOCK_PAGE_INFO)	/* entry_size and pad in cpages */
		return a->cpages >> 32 || (uint32_t)a->cpages < 32 ||
		       (uint32_t)a->cpages > f->page ? -EINVAL : UNSURE;
	/*
	 * INJECT: fault_delay_ms, hold_lock_ms in addr; fail_copies,
	 * revoke_delay_ms in ptr; settle_delay_ms, when the size has it, in
	 * npages' low half.
	 */
	return (uint32_t)a->addr > HMM_MOCK_INJECT_MAX_MS || a->addr >> 32 > HMM_MOCK_INJECT_MAX_MS ||
	       (uint32_t)a->ptr > INT32_MAX || a->ptr >> 32 > HMM_MOCK_INJECT_MAX_MS ||
	       (_IOC_SIZE(c->op) == sizeof(struct hmm_mock_inject) &&
		(uint32_t)a->npages > HMM_MOCK_INJECT_MAX_MS) ? -EINVAL : 0;
}

/*
 * What the input checks of chardev.c make of @c: 0 when it passes them,
 * UNSURE, or the -errno it must fail with (@alt: another acceptable one).
 */
static int predict(struct fuzz *f, const struct call *c, int *alt)
{
	unsigned long long a = c->cmd.addr, n = c->cmd.npages, size;
	int range, buf = 1;

	*alt = 0;
	/* The VFS answers some numbers of other types itself (FIOCLEX, ...). */
	if (_IOC_TYPE(c->op) != 'H' && _IOC_TYPE(c->op) != HMM_MOCK_IOC_TYPE)
		return UNSURE;
	if (is_stats(c->op))
		return c->arg == ARG_OK ? 0 : -EFAULT;
	if (!is_dmirror(c->op))
		return predict_own(f, c);
	if (c->op == HMM_DMIRROR_READ_UNLOCKED && !f->unlocked)
		return -ENOTTY;
	if (c->arg != ARG_OK && c->arg != ARG_RO)
		return -EFAULT;
	if (c->op == HMM_DMIRROR_RELEASE)
		return 0;
	if (c->op == HMM_DMIRROR_FLAGS)
		return n & ~HMM_DMIRROR_FLAG_FAIL_ALLOC ? -EINVAL : 0;
	range = range_ok(f, a, n);
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
	if (c->op == HMM_MOCK_PAGE_INFO) {
		const struct hmm_mock_page_info_cmd *pi = arg;

		return pi->cpages == pi->npages ? NULL : "PAGE_INFO succeeded with cpages != npages";
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
	if (is_dmirror(c->op)) {
		memcpy(u, &c->cmd, sizeof(c->cmd));
	} else if (c->op == HMM_MOCK_PAGE_INFO && c->info_size) {
		struct hmm_mock_page_info_cmd pi = {
			c->cmd.addr, c->cmd.npages, c->cmd.ptr, c->info_size, 0, 0x5a5a5a5a,
		};

		memcpy(u, &pi, sizeof(pi));
	}
	memcpy(before, u, sizeof(u));
	__atomic_store_n(&f->busy_since, usecs(), __ATOMIC_RELEASE);
	*ret = ioctl(f->fd, c->op, arg_ptr(f, c, u)) ? -errno : 0;
	__atomic_store_n(&f->busy_since, 0, __ATOMIC_RELEASE);
	/* A fault injection that took must not slow or fail what follows. */
	if (is_inject(c->op) && !*ret)
		hmm_mock_inject(f->fd, HMM_MOCK_KNOBS(0));
	return judge(f, c, want, alt, *ret, u, before);
}

#endif /* _HMM_MOCK_FUZZ_H */
