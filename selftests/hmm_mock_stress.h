/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The engine of hmm_mock_stress: the arena, whose 64-bit words name their
 * page, index and generation, and its worker threads. Each page has one
 * writer, its owner, so that every copy a worker gets can be checked
 * against the generations acknowledged around it. The chaos thread is in
 * hmm_mock_stress_chaos.h. Include after kselftest_harness.h (ARRAY_SIZE),
 * hmm_mock_test.h and hmm_mock_chaos.h.
 */
#ifndef _HMM_MOCK_STRESS_H
#define _HMM_MOCK_STRESS_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#define BLOCK		4	/* pages in a block; a block has one owner */
#define BLOCKS		8	/* blocks of each worker */
#define MAX_RUN		16	/* pages of one command */
#define MAX_THP_RUN	512	/* ... of one command on a THP (4 KiB pages) */
#define ARENA_THPS	2	/* THPs the workers run on in an arena of CHAOS_THP */

enum {
	OP_CPU_WRITE, OP_DEV_WRITE, OP_CPU_READ, OP_READ, OP_TO_DEV, OP_TO_SYS, OP_SNAPSHOT,
	OP_EXCLUSIVE, OP_CHECK_EXCL, OP_RELEASE, OP_FLAGS, OP_CHURN, OP_FORK, OP_PASS, OP_CLOSE,
	OP_COLLAPSE, OP_THP_TO_DEV, OP_THP_TO_SYS, NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"cpu_write", "dev_write", "cpu_read", "read", "to_dev", "to_sys", "snapshot", "exclusive",
	"check_excl", "release", "flags", "churn", "fork", "pass_fd", "last_close",
	"collapse", "thp_to_dev", "thp_to_sys",
};

/* What the chaos thread does besides RELEASE and fault injection. */
enum chaos { CHAOS_NONE, CHAOS_CHURN, CHAOS_FORK, CHAOS_PASS, CHAOS_CLOSE, CHAOS_THP };

/* Outcome of one process's run; in shared memory for multi-process tests. */
struct tally {
	unsigned long ops[NR_OPS], ebusy, enoent, collapsed;
	char fail[256];
};

struct arena {
	int fd, id, rx_in, rx_out;	/* rx_*: to and from the receiver */
	bool coherent, exclusive, unlocked, scm;
	enum chaos chaos;
	size_t page;
	char *base;
	unsigned long npages;
	unsigned long worked;	/* pages the workers run on: all but CHAOS_THP's last THP */
	unsigned long blocks;	/* blocks of each worker */
	unsigned long run_max;	/* pages of the largest command: a THP's on CHAOS_THP */
	unsigned int nworkers;
	unsigned long skip;	/* ops left out: bit (1 << OP_*) */
	uint32_t *ack;		/* per page: last generation acknowledged */
	uint32_t *tried;	/* per page: highest generation written */
	double deadline;
	int stop;
	uint64_t seed;
	pthread_mutex_t lock;
	struct tally t;
};

struct worker {
	struct arena *a;
	unsigned int idx;	/* owner index; the chaos thread owns nothing */
	uint64_t rng;
	uint64_t *buf;		/* a->run_max pages */
	unsigned char snap[MAX_RUN];
	uint32_t lo[MAX_THP_RUN];	/* generations acknowledged before a command */
	pthread_t tid;
};

#define count(c)	__atomic_add_fetch(c, 1, __ATOMIC_RELAXED)
#define load(v)		__atomic_load_n(v, __ATOMIC_ACQUIRE)
#define store(v, x)	__atomic_store_n(v, x, __ATOMIC_RELEASE)
#define owner(a, pg)	((unsigned int)((pg) / BLOCK % (a)->nworkers))
#define page_at(a, pg)	((a)->base + (pg) * (a)->page)

/* Word @i of page @pg at generation @gen: (pg + 1) << 48 | gen << 16 | i ^ 0x5a5a. */
static void fill_page(struct arena *a, void *p, unsigned long pg, uint32_t gen)
{
	uint64_t *w = p;
	unsigned long i;

	for (i = 0; i < a->page / 8; i++)
		w[i] = (uint64_t)(pg + 1) << 48 | (uint64_t)gen << 16 | ((i ^ 0x5a5a) & 0xffff);
}

/* First word of @p that is not page @pg at a generation in [@lo, @hi], or -1. */
static long check_page(struct arena *a, const void *p, unsigned long pg, uint32_t lo, uint32_t hi)
{
	const uint64_t *w = p;
	unsigned long i;

	for (i = 0; i < a->page / 8; i++) {
		uint32_t gen = w[i] >> 16;

		if (w[i] >> 48 != pg + 1 || (w[i] & 0xffff) != ((i ^ 0x5a5a) & 0xffff) ||
		    gen < lo || gen > hi)
			return i;
	}
	return -1;
}

static void failf(struct arena *a, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&a->lock);
	if (!a->t.fail[0]) {
		va_start(ap, fmt);
		vsnprintf(a->t.fail, sizeof(a->t.fail), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&a->lock);
	__atomic_store_n(&a->stop, 1, __ATOMIC_RELAXED);
}

static bool stopped(struct arena *a)
{
	return __atomic_load_n(&a->stop, __ATOMIC_RELAXED) || hmm_mock_now() > a->deadline;
}

/*
 * A command that races others succeeded (true), or failed in a way races
 * allow: -EBUSY, or -ENOENT where @enoent. Anything else fails the run.
 */
static bool racy_ok(struct arena *a, int op, int ret, bool enoent, unsigned long pg,
		    unsigned long n)
{
	if (!ret)
		return true;
	if (ret == -EBUSY)
		count(&a->t.ebusy);
	else if (ret == -ENOENT && enoent)
		count(&a->t.enoent);
	else
		failf(a, "%s of %lu pages at page %lu: %s", op_names[op], n, pg, strerror(-ret));
	return false;
}

static void note_lo(struct worker *w, unsigned long pg, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++)
		w->lo[i] = load(&w->a->ack[pg + i]);
}

/*
 * Checks @n pages copied from page @pg on into @buf: exactly the last
 * acknowledged generation for our own pages; for others' pages at least
 * what was acknowledged before the copy (note_lo()) and at most what was
 * written after it.
 */
static void check_copy(struct worker *w, int op, const void *buf, unsigned long pg,
		       unsigned long n)
{
	struct arena *a = w->a;
	unsigned long i;

	for (i = 0; i < n; i++) {
		unsigned long at = pg + i;
		bool mine = owner(a, at) == w->idx;
		uint32_t lo = mine ? load(&a->ack[at]) : w->lo[i];
		uint32_t hi = mine ? lo : load(&a->tried[at]);
		const uint64_t *v = (const uint64_t *)((const char *)buf + i * a->page);
		long bad = check_page(a, v, at, lo, hi);

		if (bad >= 0) {
			failf(a, "%s: page %lu word %ld is %#llx, want generation %u..%u",
			      op_names[op], at, bad, (unsigned long long)v[bad], lo, hi);
			return;
		}
	}
}

/* A run of pages of one of @w's blocks. */
static unsigned long own_run(struct worker *w, unsigned long *n)
{
	struct arena *a = w->a;
	unsigned long block = w->idx + a->nworkers * chaos_below(&w->rng, a->blocks);
	unsigned long first = chaos_below(&w->rng, BLOCK);

	*n = 1 + chaos_below(&w->rng, BLOCK - first);
	return block * BLOCK + first;
}

static void cpu_write(struct worker *w, unsigned long pg, unsigned long n)
{
	struct arena *a = w->a;
	unsigned long i;

	for (i = pg; i < pg + n; i++) {
		store(&a->tried[i], a->tried[i] + 1);
		fill_page(a, page_at(a, i), i, a->tried[i]);
		store(&a->ack[i], a->tried[i]);
	}
	count(&a->t.ops[OP_CPU_WRITE]);
}

/* After a failed WRITE each page must hold, whole, its old or its new generation. */
static void dev_write(struct worker *w, unsigned long pg, unsigned long n)
{
	struct arena *a = w->a;
	struct hmm_dmirror_cmd cmd;
	unsigned long i;
	int ret;

	for (i = 0; i < n; i++) {
		store(&a->tried[pg + i], a->tried[pg + i] + 1);
		fill_page(a, (char *)w->buf + i * a->page, pg + i, a->tried[pg + i]);
	}
	count(&a->t.ops[OP_DEV_WRITE]);
	ret = hmm_mock_cmd(a->fd, HMM_DMIRROR_WRITE, page_at(a, pg), w->buf, n, &cmd);
	if (racy_ok(a, OP_DEV_WRITE, ret, false, pg, n) && cmd.cpages != n)
		failf(a, "WRITE of %lu pages at page %lu wrote %llu", n, pg,
		      (unsigned long long)cmd.cpages);
	for (i = pg; i < pg + n; i++) {
		if (!ret || check_page(a, page_at(a, i), i, a->tried[i], a->tried[i]) < 0)
			store(&a->ack[i], a->tried[i]);
		else if (check_page(a, page_at(a, i), i, a->ack[i], a->ack[i]) >= 0)
			failf(a, "WRITE failed with %d and left page %lu neither at %u nor %u",
			      ret, i, a->ack[i], a->tried[i]);
	}
}

/* What any_op() runs, with its weight in percent. */
static const struct { int op, weight; unsigned long cmd; } mix[] = {
	{ OP_CPU_READ, 20, 0 },
	{ OP_READ, 20, HMM_DMIRROR_READ },
	{ OP_TO_DEV, 20, HMM_DMIRROR_MIGRATE_TO_DEV },
	{ OP_TO_SYS, 12, HMM_DMIRROR_MIGRATE_TO_SYS },
	{ OP_SNAPSHOT, 10, HMM_DMIRROR_SNAPSHOT },
	{ OP_EXCLUSIVE, 12, HMM_DMIRROR_EXCLUSIVE },
	{ OP_CHECK_EXCL, 6, HMM_DMIRROR_CHECK_EXCLUSIVE },
};

/*
 * One command anywhere in the arena, which changes no data. -ENOENT is a
 * race for MIGRATE_TO_DEV and EXCLUSIVE (a page left the device before the
 * report); CHECK_EXCLUSIVE is -EPERM while a page is still exclusive; a
 * SNAPSHOT shows the page absent (migrating), or mapped, on the device or not.
 */
static void any_op(struct worker *w, unsigned int r)
{
	unsigned char local = hmm_mock_local_prot(w->a->coherent), b;
	struct arena *a = w->a;
	unsigned long pg = chaos_below(&w->rng, a->worked), n, i;
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned int k;
	void *ptr;
	int op, ret;

	n = 1 + chaos_below(&w->rng, a->worked - pg < MAX_RUN ? a->worked - pg : MAX_RUN);
	for (k = 0; r >= (unsigned int)mix[k].weight && k + 1 < ARRAY_SIZE(mix); k++)
		r -= mix[k].weight;
	op = a->fd < 0 || (mix[k].op == OP_EXCLUSIVE && !a->exclusive) ||
	     (a->skip & 1UL << mix[k].op) ? OP_CPU_READ : mix[k].op;
	count(&a->t.ops[op]);
	note_lo(w, pg, n);
	if (op == OP_CPU_READ) {
		memcpy(w->buf, page_at(a, pg), n * a->page);
		check_copy(w, op, w->buf, pg, n);
		return;
	}
	ptr = op == OP_SNAPSHOT ? (void *)w->snap : op == OP_TO_SYS || op == OP_CHECK_EXCL ?
	      NULL : w->buf;
	ret = hmm_mock_cmd(a->fd, mix[k].cmd, page_at(a, pg), ptr, n, &cmd);
	if ((op == OP_CHECK_EXCL && ret == -EPERM) ||
	    !racy_ok(a, op, ret, op == OP_TO_DEV || op == OP_EXCLUSIVE, pg, n))
		return;
	if (op == OP_TO_SYS ? cmd.cpages > n : op != OP_CHECK_EXCL && cmd.cpages != n)
		failf(a, "%s of %lu pages at page %lu did %llu", op_names[op], n, pg,
		      (unsigned long long)cmd.cpages);
	for (i = 0; op == OP_SNAPSHOT && i < n; i++) {
		/* A THP arena's valid entries may be PMDs, on the device or not. */
		b = w->snap[i] & ~(a->chaos == CHAOS_THP ? HMM_DMIRROR_PROT_PMD : 0);
		if ((b & 0xf0 && (b & 0xf0) != local) || (b & 0x0f) > HMM_DMIRROR_PROT_WRITE ||
		    (b & 0xf0 && !(b & 0x0f)) || (b != w->snap[i] && !(b & 0x03)))
			failf(a, "snapshot: page %lu is %#x", pg + i, b);
	}
	if (ptr == w->buf)
		check_copy(w, op, w->buf, pg, n);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct arena *a = w->a;
	unsigned long pg, n;

	while (!stopped(a)) {
		unsigned int r = chaos_below(&w->rng, 100);

		if (r < 30) {
			pg = own_run(w, &n);
			if (r < 15 || a->fd < 0 || (a->skip & 1UL << OP_DEV_WRITE))
				cpu_write(w, pg, n);
			else
				dev_write(w, pg, n);
		} else {
			any_op(w, chaos_below(&w->rng, 100));
		}
	}
	return NULL;
}

#endif /* _HMM_MOCK_STRESS_H */
