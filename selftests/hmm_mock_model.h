/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The random walks of hmm_mock_model.c: operations, steps, the model of
 * every page of the test's ranges (hmm_mock_model_page.h) and the checks
 * that compare what the driver and the kernel show with it. An operation
 * maps each allowed state to every state it may lead to (the kernel leaves
 * some choices open); an observation (a SNAPSHOT byte, data read) narrows
 * the set to the states that explain it; one that none explains fails.
 * Include after hmm_mock_test.h.
 */
#ifndef _HMM_MOCK_MODEL_H
#define _HMM_MOCK_MODEL_H

#include <stdint.h>
#include <time.h>

#include "hmm_mock_model_page.h"

/* Operations of a walk. */
enum { OP_READ, OP_WRITE, OP_TO_DEV, OP_TO_SYS, OP_SNAPSHOT, OP_EXCL, OP_CHECK_EXCL,
	OP_RELEASE, OP_CPU_READ, OP_CPU_WRITE, OP_PROTECT, OP_MUNMAP, OP_REMAP, OP_DONTNEED,
	OP_FREE, OP_PAGEOUT, OP_FORK, OP_REOPEN, OP_CHECK_ALL, NR_OPS };

static const char *const op_name[NR_OPS] = {
	"READ", "WRITE", "MIGRATE_TO_DEV", "MIGRATE_TO_SYS", "SNAPSHOT", "EXCLUSIVE",
	"CHECK_EXCLUSIVE", "RELEASE", "cpu-read", "cpu-write", "mprotect", "munmap", "remap",
	"MADV_DONTNEED", "MADV_FREE", "MADV_PAGEOUT", "fork", "close+reopen", "check-all",
};

/* How often each operation comes up in a walk. */
static const uint8_t op_weight[NR_OPS] = {
	10, 10, 14, 8, 5, 5, 4, 2, 8, 8, 7, 1, 3, 2, 2, 2, 1, 2, 0,
};

/* One step of a walk: data only, so that any subsequence can be replayed. */
struct step {
	uint8_t op, dev, r, arg;	/* arg: mprotect's M_NONE/M_RO/M_RW */
	uint8_t a, n;			/* pages a..a+n-1 of range r */
	uint16_t id;			/* index in the generated list */
};

struct cfg {
	int devs;			/* devices the variant uses */
	bool excl;			/* the kernel has device-exclusive entries */
	bool swap;			/* swap is on: MADV_PAGEOUT may swap out (ST_W) */
	unsigned int skip;		/* operations run as no-ops (HMM_MOCK_MODEL_SKIP) */
	double deadline;		/* CLOCK_MONOTONIC time the walk stops at */
	int npages[NR_RANGES];
	uint64_t untouched[NR_RANGES];	/* pages left unwritten at the start */
	int fault_around;		/* pages a CPU fault may bring back (HMM_MOCK_STATS) */
};

struct model {
	const struct cfg *c;
	struct mpage pg[NR_RANGES][MAX_PAGES];
	char *map[NR_RANGES];		/* each range with a guard page on each side */
	int fd[NDEV];
	__u64 in_use0[NDEV];		/* device pages in use before the walk */
	unsigned long ioctls, steps, ran[NR_OPS], retried, resnapped;
	int fail;			/* index of the failing step, or -1 */
	const char *cat;		/* what kind of check failed */
	char msg[768];
};

static size_t psz;
static char *buf;			/* MAX_PAGES pages for the device's side */
static uint8_t snap[MAX_PAGES];

#define PG(M, r, i)	(&(M)->pg[r][i])
#define ADDR(M, r, i)	((M)->map[r] + ((size_t)(i) + 1) * psz)
#define FAIL(M, kind, ...) ({							\
	(M)->cat = (kind);							\
	snprintf((M)->msg, sizeof((M)->msg), __VA_ARGS__);			\
	-1;									\
})

static int want_ret(struct model *M, const char *what, int ret, int want)
{
	if (ret == want)
		return 0;
	return FAIL(M, "result", "%s returned %d (%s), the model expects %d (%s)", what, ret,
		    strerror(-ret), want, strerror(-want));
}

/* First page of the step's range mapped with less than @m, or -1. */
static int first_below(struct model *M, const struct step *s, int m)
{
	int i;

	for (i = s->a; i < s->a + s->n; i++)
		if (PG(M, s->r, i)->m < m)
			return i;
	return -1;
}

static int narrow(struct model *M, int r, int i, unsigned int mask, const char *what)
{
	struct mpage *p = PG(M, r, i);
	char a[64], b[64];

	if (!(p->st & mask))
		return FAIL(M, "location", "%s: r%d p%d: model allows %s, observation says %s",
			    what, r, i, st_str(a, sizeof(a), p->st), st_str(b, sizeof(b), mask));
	p->st &= mask;
	return 0;
}

/* Checks page contents @data that something read from page @i of range @r. */
static int observe(struct model *M, int r, int i, const void *data, const char *what)
{
	struct mpage *p = PG(M, r, i);
	uint32_t v = pat_decode(data, psz);
	char a[64], b[160];

	if (!data_has(p, v))
		return FAIL(M, "data", "%s: r%d p%d holds %s, the model allows %s", what, r, i,
			    seed_str(a, sizeof(a), v), data_str(b, sizeof(b), p));
	data_seen(p, v);
	return 0;
}

/* A device access through @f faulted the page, or used its own entry. */
static void dev_touch(struct mpage *p, int f)
{
	if (p->xo == f && p->xm != T_NO) {
		p->xent = tri_weaken(p->xent);
		p->xm = tri_weaken(p->xm);
	} else {
		p->xent = p->xm = T_NO;
	}
}

/* The states the model allows page @p that show as SNAPSHOT byte @b via device @f. */
static unsigned int snap_states(const struct mpage *p, int f, uint8_t b)
{
	unsigned int keep = 0, t;

	for (t = ST_A; t <= ST_W; t <<= 1)
		if ((p->st & t) && snap_match(t, f, p->m == M_RW, b))
			keep |= t;
	return keep;
}

/* Checks SNAPSHOT byte @b of page @i of range @r through device @f. */
static int snap_check(struct model *M, int f, int r, int i, uint8_t b, const char *what)
{
	struct mpage *p = PG(M, r, i);
	unsigned int keep;
	char x[64];

	if (p->m < M_RO) {
		if (b == HMM_DMIRROR_PROT_ERROR)
			return 0;
		return FAIL(M, "snapshot", "%s via dev%d: r%d p%d (%s) is %#x, want 0xff", what, f,
			    r, i, p->m ? "PROT_NONE" : "unmapped", b);
	}
	if (p->xent != T_NO && b == HMM_DMIRROR_PROT_NONE)
		return 0;	/* the device-exclusive entry */
	keep = snap_states(p, f, b);
	if (!keep || p->xent == T_YES)
		return FAIL(M, "snapshot", "%s via dev%d: r%d p%d is %#x, the model allows %s%s%s",
			    what, f, r, i, b, st_str(x, sizeof(x), p->st),
			    p->m == M_RO ? " read-only" : "",
			    p->xent == T_YES ? " behind a device-exclusive entry (0x00)" : "");
	p->st = keep;
	p->xent = T_NO;
	return 0;
}

static int cmd(struct model *M, int dev, unsigned long op, const struct step *s, void *ptr,
	       struct hmm_dmirror_cmd *out)
{
	M->ioctls++;
	return hmm_mock_cmd(M->fd[dev], op, ADDR(M, s->r, s->a), ptr, s->n, out);
}

/*
 * How often to take a SNAPSHOT again whose byte @b of page @i may show a
 * system page the kernel is migrating (compaction, on another CPU):
 * hmm_range_fault() without HMM_PFN_REQ_FAULT reports a migration entry as
 * no page. SNAP_RETRIES times when nothing else explains it, twice when
 * the model also allows no page there (none, swap): a narrowing must not
 * rest on a page caught in migration.
 */
#define SNAP_RETRIES	20
static int in_migration(struct model *M, int f, int r, int i, uint8_t b)
{
	struct mpage *p = PG(M, r, i);

	if (b != HMM_DMIRROR_PROT_NONE || p->m < M_RO || p->xent != T_NO || !(p->st & ST_S))
		return 0;
	return snap_states(p, f, b) ? 2 : SNAP_RETRIES;
}

/*
 * SNAPSHOT of @n pages from page @a of range @r through device @f, checked;
 * taken again a millisecond later while it may show a page in migration.
 */
static int snapshot(struct model *M, int f, int r, int a, int n, const char *what)
{
	struct timespec ms = { .tv_nsec = 1000000 };
	struct step s = { .r = r, .a = a, .n = n };
	struct hmm_dmirror_cmd c;
	int i, ret, try = 0;

again:
	ret = cmd(M, f, HMM_DMIRROR_SNAPSHOT, &s, snap, &c);
	if (want_ret(M, what, ret, 0))
		return -1;
	for (i = a; i < a + n; i++)
		if (try < in_migration(M, f, r, i, snap[i - a])) {
			M->resnapped++;
			try++;
			nanosleep(&ms, NULL);
			goto again;
		}
	if (c.cpages != (unsigned long)n)
		return FAIL(M, "cpages", "%s: cpages %llu, want %d", what, c.cpages, n);
	for (i = a; i < a + n; i++)
		if (snap_check(M, f, r, i, snap[i - a], what))
			return -1;
	return 0;
}

/*
 * How far the fault of a failing WRITE walks: from the first page the
 * device has no writable entry for, it faults every page it passes,
 * reports read-only pages it holds itself (device-private) and walks on,
 * and stops at the first page it may not write: -EPERM (read-only),
 * -EFAULT (no access). Read-only pages of its own it passed make the
 * command -EPERM at the end. Returns the first page it cannot pass.
 */
static int write_walk(struct model *M, const struct step *s, bool *eperm, bool *efault)
{
	int i;

	*eperm = *efault = false;
	for (i = s->a; i < s->a + s->n; i++) {
		struct mpage *p = PG(M, s->r, i);

		*efault |= p->m < M_RO;
		*eperm |= p->m == M_RO;
		if (p->m < M_RO || (p->m == M_RO && !(IS_PRIVATE(s->dev) && p->st == ST_D(s->dev))))
			break;
	}
	return i;
}

/*
 * HMM_MOCK_STATS of device @d against the model: the counters balance, the
 * pages the model has there are in use, and no more than those it may have
 * there (and those stuck before the walk).
 */
static int stats_check(struct model *M, int d)
{
	struct hmm_mock_stats stats, *st = &stats;
	unsigned long lo = 0, hi = 0;
	int r, i;

	M->ioctls++;
	if (ioctl(M->fd[d], HMM_MOCK_STATS, st))
		return FAIL(M, "stats", "HMM_MOCK_STATS on dev%d: %s", d, strerror(errno));
	for (r = 0; r < NR_RANGES; r++)
		for (i = 0; i < M->c->npages[r]; i++) {
			lo += PG(M, r, i)->st == ST_D(d);
			hi += !!(PG(M, r, i)->st & ST_D(d));
		}
	if (st->pages_in_use > M->in_use0[d] + hi)
		return FAIL(M, "leak", "dev%d: %llu pages in use, the model has at most %lu there (+%llu in use before)",
			    d, st->pages_in_use, hi, M->in_use0[d]);
	if (st->pages_free + st->pages_in_use != st->pages_total || st->pages_in_use < lo)
		return FAIL(M, "stats", "dev%d: free %llu + in use %llu, total %llu; the model has %lu..%lu pages there",
			    d, st->pages_free, st->pages_in_use, st->pages_total, lo, hi);
	return 0;
}

/*
 * What the model learnt at one place holds at others: a page that must
 * hold data is neither absent nor the zero page (in swap it is ST_W), and
 * one that is must hold zeros; a file's exclusive entry goes with the
 * CPU's.
 */
static int settle(struct model *M)
{
	unsigned int empty = ST_A | ST_Z;
	char b[160];
	int r, i;

	for (r = 0; r < NR_RANGES; r++)
		for (i = 0; i < M->c->npages[r]; i++) {
			struct mpage *p = PG(M, r, i);

			if (!data_has(p, 0))
				p->st &= ~empty;
			if (!p->st)
				return FAIL(M, "data", "r%d p%d: no page there, but it must hold %s: data lost",
					    r, i, data_str(b, sizeof(b), p));
			if (!(p->st & ~empty))
				data_seen(p, 0);
			if (p->xent == T_NO)
				p->xm = T_NO;
		}
	return 0;
}

/* RELEASE or the last close (@closed) moved all pages of device @d to system memory. */
static void evicted(struct model *M, int d, bool closed)
{
	int r, i;

	for (r = 0; r < NR_RANGES; r++)
		for (i = 0; i < M->c->npages[r]; i++) {
			struct mpage *p = PG(M, r, i);

			if (closed && p->xo == d)
				p->xm = T_NO;
			if (!(p->st & ST_D(d)))
				continue;
			/* An exclusive entry may or may not keep a coherent page there. */
			p->st = p->xent == T_NO ? tr_to_sys(p->st, d) : p->st | ST_S;
			p->xent = tri_weaken(p->xent);
			p->xm = tri_weaken(p->xm);
		}
}

/*
 * After fork: exclusive entries were restored; the child's CPU faults may have
 * moved device-private pages the two shared back to system memory, for both.
 */
static void forked(struct model *M)
{
	int r, i;

	for (r = 0; r < NR_RANGES; r++)
		for (i = 0; i < M->c->npages[r]; i++) {
			struct mpage *p = PG(M, r, i);

			p->xent = p->xm = T_NO;
			if (p->st & ST_PRIV)
				p->st |= ST_S;
		}
}

/*
 * After a CPU access that may have faulted page @i of range @r back from
 * private device memory (@was: where it was, @now: where it may be): the
 * fault brought back that device's pages in the page's aligned window of
 * cfg.fault_around pages, within its VMA, so those may be in system
 * memory too, and its invalidation dropped the devices' mappings of the
 * window, exclusive ones too. A page mapped otherwise is in another VMA;
 * pages with the same mapping may still be too, which only loosens the
 * model. (The kernel's own faults, for GUP and device accesses, bring
 * back one page.)
 */
static void fault_around(struct model *M, int r, int i, unsigned int was, unsigned int now)
{
	size_t w = (size_t)M->c->fault_around * psz;
	unsigned int devs = now & ST_S ? was & ST_PRIV : 0;
	int j, step;

	if (M->c->fault_around < 2 || !devs)
		return;
	for (step = -1; step <= 1; step += 2)
		for (j = i + step; j >= 0 && j < M->c->npages[r]; j += step) {
			struct mpage *p = PG(M, r, j);

			if ((uintptr_t)ADDR(M, r, j) / w != (uintptr_t)ADDR(M, r, i) / w ||
			    p->m != PG(M, r, i)->m)
				break;
			if ((p->st & devs) && p->xent != T_YES)
				p->st |= ST_S;
			p->xm = tri_weaken(p->xm);
		}
}

/* After mprotect, munmap, remap or madvise @s (remap: of the unmapped pages). */
static void vm_done(struct model *M, const struct step *s)
{
	int i;

	for (i = s->a; i < s->a + s->n; i++) {
		struct mpage *p = PG(M, s->r, i);

		if (s->op == OP_PROTECT && p->m != M_UNMAP) {
			if (p->m != s->arg)
				p->xm = T_NO;	/* invalidated */
			p->m = s->arg;
		} else if (s->op == OP_MUNMAP || s->op == OP_DONTNEED ||
			   (s->op == OP_REMAP && p->m == M_UNMAP)) {
			p->m = s->op == OP_MUNMAP ? M_UNMAP : s->op == OP_REMAP ? M_RW : p->m;
			p->st = ST_A;
			data_set(p, 0);
			p->xent = p->xm = T_NO;
		} else if (s->op == OP_FREE && p->m != M_UNMAP) {
			/*
			 * MADV_FREE skips device memory; system pages may drop
			 * from now on, and what is in swap drops at once.
			 */
			p->lazy |= !!(p->st & (ST_S | ST_W));
			if (p->st & ST_W)
				p->st = (p->st & ~ST_W) | ST_A;
			p->xm = T_NO;
		} else if (s->op == OP_PAGEOUT && (p->st & ST_S)) {
			/*
			 * Reclaim drops a lazily freed page and swaps out
			 * another; a migration may have ended the lazy state
			 * the model still keeps, so with swap either may be.
			 */
			p->st |= (p->lazy ? ST_A : 0) | (M->c->swap ? ST_W : 0);
		}
	}
}

static uint64_t rnd(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The walk of @seed: range sizes, initial contents and @n steps, the last a check-all. */
static void generate(struct cfg *c, struct step *steps, int n, uint64_t seed)
{
	int r, k, op, w, total = 0, devs[NDEV], ndevs = 0, d;

	for (d = 0; d < NDEV; d++)
		if (c->devs & (1 << d))
			devs[ndevs++] = d;
	for (op = 0; op < NR_OPS; op++)
		total += op_weight[op];
	for (r = 0; r < NR_RANGES; r++) {
		c->npages[r] = 8 + rnd(&seed) % (MAX_PAGES - 7);
		c->untouched[r] = rnd(&seed) & rnd(&seed);
	}
	for (k = 0; k < n; k++) {
		struct step *s = &steps[k];
		int len, pick = rnd(&seed) % 4;

		for (w = rnd(&seed) % total, op = 0; w >= op_weight[op]; op++)
			w -= op_weight[op];
		s->op = k == n - 1 ? OP_CHECK_ALL : op;
		s->id = k;
		s->dev = devs[rnd(&seed) % ndevs];
		s->r = rnd(&seed) % NR_RANGES;
		w = rnd(&seed) % 8;
		s->arg = w == 0 ? M_NONE : w < 4 ? M_RO : M_RW;
		/* The whole range, one page, or any part of it. */
		len = c->npages[s->r];
		s->a = pick == 0 ? 0 : rnd(&seed) % len;
		s->n = pick == 0 ? len : pick == 1 ? 1 : 1 + (int)(rnd(&seed) % (len - s->a));
	}
}

#endif /* _HMM_MOCK_MODEL_H */
