/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The page model of hmm_mock_model.c, one page at a time: the set of places
 * a page may be, its mapping, the contents it may hold and its
 * device-exclusive state, and how each operation and observation changes
 * that set (see hmm_mock_model.h). Include after hmm_mock_test.h.
 */
#ifndef _HMM_MOCK_MODEL_PAGE_H
#define _HMM_MOCK_MODEL_PAGE_H

#include <stdint.h>
#include <time.h>

#define NDEV		4
#define NR_RANGES	3
#define MAX_PAGES	64	/* pages of a range: one command batch */

/* Where a page may be: bits of mpage.st. */
#define ST_A		0x01u	/* no page (none pte): reads as zeros */
#define ST_Z		0x02u	/* the shared zero page */
#define ST_S		0x04u	/* a system page */
#define ST_D(d)		(0x08u << (d))	/* memory of device d */
#define ST_W		0x80u	/* a swap entry: the data is in swap */
#define ST_SYS		(ST_A | ST_Z | ST_S | ST_W)
#define ST_PRIV		(ST_D(0) | ST_D(1))

#define IS_PRIVATE(d)	((d) < 2)

enum { M_UNMAP, M_NONE, M_RO, M_RW };	/* mapping of a page, in order of access */
enum { T_NO, T_YES, T_MAYBE };		/* knowledge */
#define NSEEDS		4

/*
 * @s[0..@ns-1] are the contents the page may hold, as the seed of the
 * pattern written (0: zeros); @ns 0 means any pattern the test wrote
 * (too many unobserved maybe-writes to track). @lazy adds zeros: the page
 * was MADV_FREE'd and not written since, so reclaim may drop it.
 */
struct mpage {
	uint8_t st;	/* ST_* where the page may be */
	uint8_t m;	/* M_* */
	uint8_t lazy;
	uint8_t ns;
	uint8_t xent;	/* T_*: the CPU maps it by a device-exclusive entry */
	uint8_t xm;	/* T_*: device @xo's file holds it exclusively */
	uint8_t xo;
	uint32_t s[NSEEDS];
};

/*
 * Contents are written as the pattern seed, seed + 1, ... over the page's
 * 32-bit words. Seeds name who wrote them: step @id, page @k of its range;
 * step ids stay fixed when a subsequence is replayed.
 */
#define SEED(id, k)	((((uint32_t)(id) + 1) << 20) | ((uint32_t)(k) << 12))
#define SEED_ID(s)	((int)((s) >> 20) - 1)
#define SEED_K(s)	((int)(((s) >> 12) & 0xff))
#define CORRUPT		1u	/* decode(): neither zeros nor one pattern */
#define INIT_ID		4000	/* seeds of the initial contents */
#define JUNK_K		255	/* page number of what fork children write */

static inline void pat_fill(void *page, size_t psz, uint32_t seed)
{
	uint32_t *v = page;
	size_t i;

	for (i = 0; i < psz / 4; i++)
		v[i] = seed ? seed + (uint32_t)i : 0;
}

static inline uint32_t pat_decode(const void *page, size_t psz)
{
	const uint32_t *v = page;
	uint32_t s = v[0];
	size_t i;

	for (i = 0; i < psz / 4; i++)
		if (v[i] != (s ? s + (uint32_t)i : 0))
			return CORRUPT;
	return s;
}

/* Names contents: who wrote them (the step, or the initial fill, and the page). */
static inline const char *seed_str(char *b, size_t len, uint32_t s)
{
	if (!s || s == CORRUPT)
		snprintf(b, len, s ? "corrupt" : "zeros");
	else
		snprintf(b, len, "%s#%d.p%d", SEED_K(s) == JUNK_K ? "fork-child" :
			 SEED_ID(s) == INIT_ID ? "initial" : "step", SEED_ID(s), SEED_K(s));
	return b;
}

/* The contents the page may hold; @b has room for NSEEDS of them. */
static inline const char *data_str(char *b, size_t len, const struct mpage *p)
{
	size_t o = 0;
	char t[40];
	int i;

	for (b[0] = 0, i = 0; i < p->ns; i++)
		o += snprintf(b + o, len - o, "%s%s", i ? "|" : "", seed_str(t, 40, p->s[i]));
	snprintf(b + o, len - o, "%s%s", p->ns ? "" : "any", p->lazy ? "|zeros(lazyfree)" : "");
	return b;
}

static inline const char *st_str(char *b, size_t len, unsigned int st)
{
	static const char *const name[] = {
		"none", "zero", "sys", "dev0", "dev1", "dev2", "dev3", "swap"
	};
	size_t o = 0;
	int i;

	for (b[0] = 0, i = 0; i < 8; i++)
		if (st & (1u << i))
			o += snprintf(b + o, len - o, "%s%s", o ? "|" : "", name[i]);
	return st ? b : "nothing";
}

static inline bool data_has(const struct mpage *p, uint32_t v)
{
	int i;

	if (v == CORRUPT)
		return false;
	if ((!v && p->lazy) || !p->ns)
		return true;
	for (i = 0; i < p->ns; i++)
		if (p->s[i] == v)
			return true;
	return false;
}

/* The page now certainly holds @v. */
static inline void data_set(struct mpage *p, uint32_t v)
{
	p->s[0] = v;
	p->ns = 1;
	p->lazy = 0;
}

/* Observed @v (data_has() said it is allowed); a lazily freed page may still drop. */
static inline void data_seen(struct mpage *p, uint32_t v)
{
	bool lazy = p->lazy;

	data_set(p, v);
	p->lazy = lazy;
}

/* The page may now hold @v too. */
static inline void data_maybe(struct mpage *p, uint32_t v)
{
	if (!p->ns || data_has(p, v))
		return;
	if (p->ns < NSEEDS)
		p->s[p->ns++] = v;
	else
		p->ns = 0;	/* too many to track */
}

static inline uint8_t tri_weaken(uint8_t t)
{
	return t == T_NO ? T_NO : T_MAYBE;
}

/*
 * Where an access through device @f (-1: the CPU) that faults the page in
 * for reading takes it: a none pte gets the zero page, a swap entry the
 * page read back from swap, device-private
 * memory comes back to system memory, coherent memory is read in place.
 * hmm_range_fault() reports @f's own private pages without faulting them,
 * but once it faults one page it faults all the rest of its walk
 * (hmm_vma_fault()), own pages included: those may come back too.
 */
static inline unsigned int tr_read(unsigned int st, int f)
{
	unsigned int out = st & (ST_Z | ST_S);
	int d;

	if (st & ST_A)
		out |= ST_Z;
	if (st & ST_W)
		out |= ST_S;
	for (d = 0; d < NDEV; d++)
		if (st & ST_D(d))
			out |= IS_PRIVATE(d) ? ST_S | (d == f ? ST_D(d) : 0) : ST_D(d);
	return out;
}

/*
 * The same for a write fault (also GUP for write, @f -1): system memory
 * gets a page of its own; device-private memory is written in place only
 * by its owner through a writable entry, else it comes back first;
 * coherent memory is written in place unless copy-on-write copies it.
 */
static inline unsigned int tr_write(unsigned int st, int f)
{
	unsigned int out = st & ST_SYS ? ST_S : 0;
	int d;

	for (d = 0; d < NDEV; d++)
		if (st & ST_D(d))
			out |= ST_S | (!IS_PRIVATE(d) || d == f ? ST_D(d) : 0);
	return out;
}

/*
 * MIGRATE_TO_DEV to @d moves system pages only; a swap entry may stay
 * (the kernel collects present pages and holes only).
 */
static inline unsigned int tr_to_dev(unsigned int st, int d)
{
	return (st & ST_SYS ? ST_D(d) : 0) | (st & ~ST_SYS) | (st & ST_W);
}

/* MIGRATE_TO_SYS and eviction of @d move @d's pages only. */
static inline unsigned int tr_to_sys(unsigned int st, int d)
{
	return st & ST_D(d) ? (st & ~ST_D(d)) | ST_S : st;
}

/* A migration's result for @p, which a device-exclusive entry blocks. */
static inline unsigned int tr_unless_excl(const struct mpage *p, unsigned int moved)
{
	if (p->xent == T_YES)
		return p->st;
	return p->xent == T_MAYBE ? p->st | moved : moved;
}

/* Whether state @t of a page (in a writable mapping: @rw) shows as byte @b via device @f. */
static inline bool snap_match(unsigned int t, int f, bool rw, uint8_t b)
{
	uint8_t acc = b & 3, kind = b & ~3;
	int d = __builtin_ctz(t) - 3;

	if (t == ST_A || t == ST_W)
		return b == HMM_DMIRROR_PROT_NONE;
	if (t == ST_Z)
		return b == (HMM_DMIRROR_PROT_ZERO | HMM_DMIRROR_PROT_READ);
	if (t != ST_S && d != f && IS_PRIVATE(d))
		return b == HMM_DMIRROR_PROT_NONE;	/* another owner's: not visible */
	if (acc != HMM_DMIRROR_PROT_READ && !(rw && acc == HMM_DMIRROR_PROT_WRITE))
		return false;
	if (t == ST_S)
		return kind == HMM_DMIRROR_PROT_NONE;
	if (d != f)
		return kind == HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	return kind == (IS_PRIVATE(d) ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
					HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL);
}

#endif /* _HMM_MOCK_MODEL_PAGE_H */
