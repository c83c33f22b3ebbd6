// SPDX-License-Identifier: GPL-2.0
/*
 * Model-checked random walks over three private anonymous ranges: every
 * HMM_DMIRROR_* command, CPU reads and writes, mprotect, munmap, remap, fork,
 * MADV_DONTNEED/FREE/PAGEOUT, close+reopen of a device; hmm_mock_model.h
 * checks every answer (return values, cpages, data, SNAPSHOT of every range,
 * HMM_MOCK_STATS, no device page left in use at the end). A failure prints
 * the seed, the step, what differed, then the shortest list of steps found
 * that still fails the same way, replayed from a fresh state. Environment:
 * HMM_MOCK_MODEL_SEED (unset or 0: the clock; each variant adds its salt),
 * HMM_MOCK_MODEL_STEPS, and for bisecting HMM_MOCK_MODEL_SKIP="RELEASE,fork"
 * (operations run as no-ops) and HMM_MOCK_MODEL_SHRINK_SECS. One variant
 * walks while other CPUs compact memory (hmm_mock_compact_elsewhere()).
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_model.h"

#define DEFAULT_STEPS	2000	/* about 0.5 s a walk in a TCG guest */
#define WALK_SECS	40	/* a walk stops there (device pages stuck by a bug slow it) */
#define SHRINK_SECS	80
#define MIGRATE_RETRIES	10	/* a MIGRATE_TO_DEV that left pages behind */

static sigjmp_buf cpu_jmp;
static volatile sig_atomic_t cpu_sig;

static void on_cpu_fault(int sig)
{
	cpu_sig = sig;
	siglongjmp(cpu_jmp, 1);
}

/* memcpy() of one page that reports SIGSEGV or SIGBUS instead of dying. */
static int cpu_copy(void *dst, const void *src)
{
	if (sigsetjmp(cpu_jmp, 1))
		return cpu_sig;
	memcpy(dst, src, psz);
	return 0;
}

/* READ, and EXCLUSIVE, which on a failure leaves earlier pages exclusive to no file. */
static int op_read(struct model *M, const struct step *s)
{
	bool excl = s->op == OP_EXCL;
	int f = s->dev, bad = first_below(M, s, excl ? M_RW : M_RO), i, ret;
	struct hmm_dmirror_cmd c;

	ret = cmd(M, f, excl ? HMM_DMIRROR_EXCLUSIVE : HMM_DMIRROR_READ, s, buf, &c);
	if (want_ret(M, op_name[s->op], ret, bad < 0 ? 0 : -EFAULT))
		return -1;
	if (bad < 0 && c.cpages != s->n)
		return FAIL(M, "cpages", "%s: cpages %llu of %d", op_name[s->op], c.cpages, s->n);
	/* Failed: the pages before the bad one were faulted in all the same. */
	for (i = s->a; i < (bad < 0 ? s->a + s->n : bad); i++) {
		struct mpage *p = PG(M, s->r, i);

		if (bad < 0 && observe(M, s->r, i, buf + (i - s->a) * psz, op_name[s->op]))
			return -1;
		if (!excl) {
			p->st = tr_read(p->st, f);
			dev_touch(p, f);
			continue;
		}
		p->st = tr_write(p->st, -1);	/* get_user_pages() for write */
		p->xent = T_YES;
		p->xo = f;
		p->xm = bad < 0 ? T_YES : T_NO;
	}
	return 0;
}

/* WRITE; on a failure the pages up to where its fault stopped may have moved. */
static int op_write(struct model *M, const struct step *s)
{
	int f = s->dev, end = s->a + s->n, bad = first_below(M, s, M_RW), i, ret, walk;
	bool eperm, efault;
	struct hmm_dmirror_cmd c;

	walk = write_walk(M, s, &eperm, &efault);
	for (i = 0; i < s->n; i++)
		pat_fill(buf + i * psz, psz, SEED(s->id, i));
	ret = cmd(M, f, HMM_DMIRROR_WRITE, s, buf, &c);
	if (bad < 0 && want_ret(M, "WRITE", ret, 0))
		return -1;
	if (bad >= 0 && !(eperm && ret == -EPERM) && !(efault && ret == -EFAULT))
		return want_ret(M, "WRITE", ret, eperm ? -EPERM : -EFAULT);
	if (bad < 0 && c.cpages != s->n)
		return FAIL(M, "cpages", "WRITE: cpages %llu, want %d", c.cpages, s->n);
	for (i = s->a; i < (bad < 0 ? end : walk); i++) {
		struct mpage *p = PG(M, s->r, i);

		if (bad < 0) {
			data_set(p, SEED(s->id, i - s->a));
			p->st = tr_write(p->st, f);
			dev_touch(p, f);
			continue;
		}
		/* Failed: the pages it held writable before the first bad one were written. */
		if (i < bad)
			data_maybe(p, SEED(s->id, i - s->a));
		p->st |= tr_write(p->st, f);
		p->xent = tri_weaken(p->xent);
		p->xm = tri_weaken(p->xm);
	}
	return 0;
}

/*
 * Whether MIGRATE_TO_DEV to @d left a page of @s in system memory that the
 * model has nowhere else: the kernel skipped it for a reference it could
 * not account for, an LRU batch's (see hmm_mock_stay_on_this_cpu()) or
 * that of compaction migrating it meanwhile. A SNAPSHOT tells, wherever
 * the copy-out stopped: the page shows as a system page, or as no page
 * while in migration. Anything else is for the check after the step.
 */
static bool left_behind(struct model *M, const struct step *s, int d)
{
	int i;

	if (cmd(M, d, HMM_DMIRROR_SNAPSHOT, s, snap, NULL))
		return false;	/* the check after the step reports it */
	for (i = s->a; i < s->a + s->n; i++) {
		uint8_t b = snap[i - s->a];

		/* Not exclusive, shown as a system page or none, and the model has neither. */
		if (PG(M, s->r, i)->xent == T_NO && !(b & ~3) && !snap_states(PG(M, s->r, i), d, b))
			return true;
	}
	return false;
}

/* MIGRATE_TO_DEV moves what it can, copies out up to a page not there: -ENOENT. */
static int op_to_dev(struct model *M, const struct step *s)
{
	int d = s->dev, i, ret, all = 1, none = 0, try;
	struct hmm_dmirror_cmd c;

	if (first_below(M, s, M_RO) >= 0)
		return want_ret(M, "MIGRATE_TO_DEV", cmd(M, d, HMM_DMIRROR_MIGRATE_TO_DEV, s, buf,
							 NULL), -EINVAL);
	memset(buf, 0xa5, s->n * psz);
	ret = cmd(M, d, HMM_DMIRROR_MIGRATE_TO_DEV, s, buf, &c);
	for (i = s->a; i < s->a + s->n; i++) {
		struct mpage *p = PG(M, s->r, i);

		p->st = tr_unless_excl(p, tr_to_dev(p->st, d));
		p->xm = T_NO;	/* the migration invalidated the range */
		all &= p->st == ST_D(d);
		none |= !(p->st & ST_D(d));
	}
	/*
	 * Migration is best effort: a page the kernel skipped for a passing
	 * reference (see left_behind()) moves when asked again, after the
	 * LRU batches are drained and compaction moved on; one the driver
	 * fails to move does not, so the retries cannot hide a bug. Nothing
	 * else changes between the tries: pages already moved stay there.
	 */
	for (try = 0; ret == -ENOENT && try < MIGRATE_RETRIES && left_behind(M, s, d); try++) {
		struct timespec pause = { .tv_nsec = 1000000L << try };	/* 1 ms .. 0.5 s */

		M->retried++;
		hmm_mock_drain_lru_batches();
		nanosleep(&pause, NULL);
		memset(buf, 0xa5, s->n * psz);
		ret = cmd(M, d, HMM_DMIRROR_MIGRATE_TO_DEV, s, buf, &c);
	}
	if ((ret && (ret != -ENOENT || all)) || (!ret && none))
		return want_ret(M, "MIGRATE_TO_DEV", ret, all ? 0 : -ENOENT);
	if (!ret && c.cpages != s->n)
		return FAIL(M, "cpages", "MIGRATE_TO_DEV: cpages %llu, want %d", c.cpages, s->n);
	for (i = s->a; i < s->a + s->n; i++) {
		char *data = buf + (i - s->a) * psz;

		/* Stopped: not on the device, or there behind an exclusive entry. */
		if (ret && (uint8_t)data[0] == 0xa5 && !memcmp(data, data + 1, psz - 1))
			return PG(M, s->r, i)->xent != T_NO ? 0 :
			       narrow(M, s->r, i, ~ST_D(d), "MIGRATE_TO_DEV stopped");
		if (observe(M, s->r, i, data, "MIGRATE_TO_DEV") ||
		    narrow(M, s->r, i, ST_D(d), "MIGRATE_TO_DEV copied it"))
			return -1;
	}
	return ret ? FAIL(M, "result", "MIGRATE_TO_DEV: -ENOENT but every page copied") : 0;
}

static int op_to_sys(struct model *M, const struct step *s)
{
	int d = s->dev, i, ret, want = first_below(M, s, M_RO) >= 0 ? -EINVAL : 0;
	unsigned long lo = 0, hi = 0;
	struct hmm_dmirror_cmd c;

	ret = cmd(M, d, HMM_DMIRROR_MIGRATE_TO_SYS, s, buf, &c);
	if (want_ret(M, "MIGRATE_TO_SYS", ret, want) || ret)
		return ret == want ? 0 : -1;	/* -EINVAL: nothing moved */
	for (i = s->a; i < s->a + s->n; i++) {
		lo += PG(M, s->r, i)->st == ST_D(d) && PG(M, s->r, i)->xent == T_NO;
		hi += (PG(M, s->r, i)->st & ST_D(d)) && PG(M, s->r, i)->xent != T_YES;
	}
	if (c.cpages < lo || c.cpages > hi)
		return FAIL(M, "cpages", "MIGRATE_TO_SYS: cpages %llu, the model allows %lu..%lu",
			    c.cpages, lo, hi);
	for (i = s->a; i < s->a + s->n; i++) {
		struct mpage *p = PG(M, s->r, i);

		p->st = tr_unless_excl(p, tr_to_sys(p->st, d));
		p->xm = T_NO;
	}
	return 0;
}

static int op_check_excl(struct model *M, const struct step *s)
{
	int f = s->dev, i, ret, yes = 0, maybe = 0;

	for (i = s->a; i < s->a + s->n; i++) {
		yes |= PG(M, s->r, i)->xo == f && PG(M, s->r, i)->xm == T_YES;
		maybe |= PG(M, s->r, i)->xo == f && PG(M, s->r, i)->xm == T_MAYBE;
	}
	ret = cmd(M, f, HMM_DMIRROR_CHECK_EXCLUSIVE, s, NULL, NULL);
	if (want_ret(M, "CHECK_EXCLUSIVE", ret, yes || (maybe && ret == -EPERM) ? -EPERM : 0))
		return -1;
	for (i = s->a; i < s->a + s->n && !ret; i++)
		if (PG(M, s->r, i)->xo == f)
			PG(M, s->r, i)->xm = T_NO;
	return 0;
}

static int dev_open(struct model *M, int d)
{
	const char *why;
	int err;

	M->fd[d] = hmm_mock_open(d, &why, &err);
	return M->fd[d] < 0 ? FAIL(M, "setup", "open hmm_dmirror%d: %s", d, strerror(-err)) : 0;
}

static int op_cpu(struct model *M, const struct step *s, bool write)
{
	unsigned int was;
	int i, sig;

	for (i = s->a; i < s->a + s->n; i++) {
		struct mpage *p = PG(M, s->r, i);

		if (p->m < (write ? M_RW : M_RO))
			continue;
		if (write)
			pat_fill(buf, psz, SEED(s->id, i - s->a));
		sig = write ? cpu_copy(ADDR(M, s->r, i), buf) : cpu_copy(buf, ADDR(M, s->r, i));
		if (sig)
			return FAIL(M, "cpu", "CPU %s r%d p%d: signal %d", write ? "write" : "read",
				    s->r, i, sig);
		if (write)
			data_set(p, SEED(s->id, i - s->a));
		else if (observe(M, s->r, i, buf, "CPU read"))
			return -1;
		was = p->st;
		p->st = write ? tr_write(p->st, -1) : tr_read(p->st, -1);
		fault_around(M, s->r, i, was, p->st);
		p->xent = p->xm = T_NO;
	}
	return 0;
}

/* mprotect, munmap, remap and madvise, on each run of mapped (remap: unmapped) pages. */
static int op_vm(struct model *M, const struct step *s)
{
	bool mapped = s->op != OP_REMAP;
	int i = s->a, j, end = s->a + s->n, ret = 0;
	char *p;

	if (s->op == OP_MUNMAP && munmap(ADDR(M, s->r, i), s->n * psz))
		return FAIL(M, "vm", "munmap: %s", strerror(errno));
	for (; s->op != OP_MUNMAP && i < end; i = j + (j == i)) {
		for (j = i; j < end && (PG(M, s->r, j)->m != M_UNMAP) == mapped; j++)
			;
		p = ADDR(M, s->r, i);
		if (j == i)
			continue;
		if (s->op == OP_PROTECT)
			ret = mprotect(p, (j - i) * psz, s->arg == M_RW ? PROT_READ | PROT_WRITE :
							 s->arg == M_RO ? PROT_READ : PROT_NONE);
		else if (s->op == OP_REMAP)
			ret = mmap(p, (j - i) * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE |
				   MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) != p ||
			      madvise(p, (j - i) * psz, MADV_NOHUGEPAGE);
		else
			ret = madvise(p, (j - i) * psz, s->op == OP_DONTNEED ? MADV_DONTNEED :
				      s->op == OP_FREE ? MADV_FREE : MADV_PAGEOUT);
		if (ret)
			return FAIL(M, "vm", "%s r%d p%d..%d: %s", op_name[s->op], s->r, i, j - 1,
				    strerror(errno));
	}
	vm_done(M, s);
	return 0;
}

/*
 * fork: the child sees the parent's data, cannot use the parent's files
 * and writes its own copies (exit status 1: data, 2: a file, 3: signal).
 */
static int op_fork(struct model *M, const struct step *s)
{
	int r, i, d, bad = 0, status = 0;
	struct step one = { .n = 1 };
	char a[64], b[160];
	pid_t pid;

	fflush(NULL);
	pid = fork();
	for (r = 0; r < NR_RANGES && !pid; r++)
		for (i = 0; i < M->c->npages[r]; i++) {
			struct mpage *p = PG(M, r, i);
			uint32_t v;

			if (p->m < M_RO)
				continue;
			if (cpu_copy(buf, ADDR(M, r, i)))
				_exit(3);
			v = pat_decode(buf, psz);
			if (!data_has(p, v)) {
				fprintf(stderr, "# fork child: r%d p%d holds %s, model allows %s\n",
					r, i, seed_str(a, sizeof(a), v), data_str(b, sizeof(b), p));
				bad = 1;
			}
			pat_fill(buf, psz, SEED(s->id, JUNK_K));
			if (p->m == M_RW && (i & 1) && cpu_copy(ADDR(M, r, i), buf))
				_exit(3);
		}
	for (d = 0; d < NDEV && !pid; d++)
		if (M->fd[d] >= 0 && cmd(M, d, HMM_DMIRROR_SNAPSHOT, &one, snap, NULL) != -EPERM)
			_exit(2);	/* only the process that opened a file may use it */
	if (!pid)
		_exit(bad);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return FAIL(M, "setup", "fork: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return FAIL(M, "child", "fork child: status %#x", status);
	forked(M);
	return 0;
}

/* After every step: SNAPSHOT of every range, the counters, and model coherence. */
static int check(struct model *M, const struct step *s, bool every_fd)
{
	int r, d, f = s->dev;

	for (d = 0; d < NDEV && M->fd[f] < 0; d++)
		f = d;	/* the step's device is absent: another one */
	for (d = 0; d < NDEV; d++)
		for (r = 0; r < NR_RANGES && M->fd[d] >= 0 && (every_fd || d == f); r++)
			if (snapshot(M, d, r, 0, M->c->npages[r], "SNAPSHOT after the step"))
				return -1;
	for (d = 0; d < NDEV; d++)
		if (M->fd[d] >= 0 && stats_check(M, d))
			return -1;
	return settle(M);
}

static int exec(struct model *M, const struct step *s)
{
	struct step all = { .op = OP_CPU_READ };
	int ret;

	if (((s->op <= OP_RELEASE || s->op == OP_REOPEN) && M->fd[s->dev] < 0) ||
	    ((s->op == OP_EXCL || s->op == OP_CHECK_EXCL) && !M->c->excl) ||
	    (M->c->skip & (1u << s->op)))
		return 0;	/* device absent, or no exclusive access here, or skipped */
	M->steps++;
	M->ran[s->op]++;
	switch (s->op) {
	case OP_READ:
	case OP_EXCL:		return op_read(M, s);
	case OP_WRITE:		return op_write(M, s);
	case OP_TO_DEV:		return op_to_dev(M, s);
	case OP_TO_SYS:		return op_to_sys(M, s);
	case OP_SNAPSHOT:	return snapshot(M, s->dev, s->r, s->a, s->n, "SNAPSHOT");
	case OP_CHECK_EXCL:	return op_check_excl(M, s);
	case OP_RELEASE:
		M->ioctls++;
		ret = hmm_mock_cmd(M->fd[s->dev], HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL);
		/* Pages stuck before the walk began (a leak reported then) stay busy. */
		if (ret == -EBUSY && !M->in_use0[s->dev])
			return FAIL(M, "leak", "RELEASE dev%d: -EBUSY, pages stayed busy", s->dev);
		if (ret != -EBUSY && want_ret(M, "RELEASE", ret, 0))
			return -1;
		evicted(M, s->dev, false);
		return 0;
	case OP_CPU_READ:
	case OP_CPU_WRITE:	return op_cpu(M, s, s->op == OP_CPU_WRITE);
	case OP_FORK:		return op_fork(M, s);
	case OP_REOPEN:
		close(M->fd[s->dev]);	/* the last close: evicts the device */
		evicted(M, s->dev, true);
		return dev_open(M, s->dev);
	case OP_CHECK_ALL:	/* every range through every device, then by the CPU */
		for (ret = check(M, s, true); all.r < NR_RANGES && !ret; all.r++) {
			all.n = M->c->npages[all.r];
			ret = op_cpu(M, &all, false);
		}
		return ret;
	default:		return op_vm(M, s);
	}
}

/* Runs @n steps (till the deadline) from a fresh state; returns the failing one or -1. */
static int replay(struct model *M, const struct cfg *c, const struct step *steps, int n)
{
	struct hmm_mock_stats st;
	int r, i, d;

	*M = (struct model){ .c = c, .fail = -1 };
	for (d = 0; d < NDEV; d++) {
		M->fd[d] = -1;
		if ((c->devs >> d & 1) && (dev_open(M, d) || ioctl(M->fd[d], HMM_MOCK_STATS, &st)))
			M->fail = 0;
		M->in_use0[d] = M->fd[d] < 0 ? 0 : st.pages_in_use;
	}
	for (r = 0; r < NR_RANGES && M->fail < 0; r++) {
		M->map[r] = mmap(NULL, (c->npages[r] + 2) * psz, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (M->map[r] == MAP_FAILED ||
		    mmap(ADDR(M, r, 0), c->npages[r] * psz, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
			M->fail = FAIL(M, "setup", "mmap: %s", strerror(errno)) + 1;	/* 0 */
		else
			madvise(ADDR(M, r, 0), c->npages[r] * psz, MADV_NOHUGEPAGE);
		for (i = 0; i < c->npages[r] && M->fail < 0; i++) {
			struct mpage *p = PG(M, r, i);

			p->m = M_RW;
			p->st = c->untouched[r] >> i & 1 ? ST_A : ST_S;
			data_set(p, p->st == ST_A ? 0 : SEED(INIT_ID, r * MAX_PAGES + i));
			if (p->st == ST_S)
				pat_fill(ADDR(M, r, i), psz, p->s[0]);
		}
	}
	for (i = 0; i < n && M->fail < 0 && hmm_mock_now() < c->deadline; i++)
		if (exec(M, &steps[i]) || check(M, &steps[i], false))
			M->fail = i;
	for (r = 0; r < NR_RANGES; r++)
		if (M->map[r] && M->map[r] != MAP_FAILED)
			munmap(M->map[r], (c->npages[r] + 2) * psz);
	/* Nothing maps device memory now: every page the walk used is free again. */
	for (d = 0; d < NDEV; d++) {
		if (M->fd[d] < 0)
			continue;
		if (M->fail < 0 && !ioctl(M->fd[d], HMM_MOCK_STATS, &st) &&
		    st.pages_in_use > M->in_use0[d]) {
			FAIL(M, "leak", "dev%d: %llu pages in use with nothing mapped, %llu before",
			     d, st.pages_in_use, M->in_use0[d]);
			M->fail = i ? i - 1 : 0;	/* the last step that ran */
		}
		close(M->fd[d]);
	}
	return M->fail;
}

static void print_step(const struct step *s)
{
	static const char *const prot[] = { "", "PROT_NONE", "PROT_READ", "PROT_READ|PROT_WRITE" };
	char dev[8] = "", range[48] = "";

	if (s->op <= OP_RELEASE || s->op == OP_REOPEN)
		snprintf(dev, sizeof(dev), " dev%d", s->dev);
	if (s->op != OP_RELEASE && s->op < OP_FORK)
		snprintf(range, sizeof(range), " r%d p%d..%d %s", s->r, s->a, s->a + s->n - 1,
			 s->op == OP_PROTECT ? prot[s->arg] : "");
	ksft_print_msg("  #%-4d %s%s%s\n", s->id, op_name[s->op], dev, range);
}

/* Replays @m steps; returns how many of them fail like @cat at @op (a leak: anywhere), or 0. */
static int fails(struct model *M, const struct cfg *c, const struct step *steps, int m,
		 const char *cat, int op, int *replays)
{
	int f = m ? replay(M, c, steps, m) : -1;

	++*replays;
	if (f < 0 || strcmp(M->cat, cat) || (steps[f].op != op && strcmp(cat, "leak")))
		return 0;
	return f + 1;
}

/*
 * Shortens @list (@len steps, the last one failing): first to the shortest
 * tail of 1, 2, 4... steps that fails the same way (bugs tend to be local,
 * and short replays are fast), then by removing chunks of halving size
 * down to single steps while it still fails. Returns the new length.
 */
static int shrink(struct model *M, const struct cfg *c, struct step *list, int len,
		  const char *cat, int secs, int *replays, char *msg)
{
	struct step *cand = malloc(len * sizeof(*cand));
	double end = hmm_mock_now() + secs;
	int op = list[len - 1].op, chunk, start, m = 0, k;
	bool cut = false;

	for (k = 1; k < len && hmm_mock_now() < end && !m; k *= 2) {
		m = fails(M, c, list + len - k, k, cat, op, replays);
		if (m) {
			memmove(list, list + len - k, m * sizeof(*list));
			len = m;
			memcpy(msg, M->msg, sizeof(M->msg));
		}
	}
	for (chunk = len / 2 ?: 1; cand && chunk && hmm_mock_now() < end; chunk /= cut ? 1 : 2) {
		for (cut = false, start = 0; start < len && hmm_mock_now() < end; start += chunk) {
			m = start + chunk < len ? len - chunk : start;
			memcpy(cand, list, start * sizeof(*cand));
			memcpy(cand + start, list + start + chunk, (m - start) * sizeof(*cand));
			m = fails(M, c, cand, m, cat, op, replays);
			if (!m)
				continue;
			len = m;
			memcpy(list, cand, len * sizeof(*cand));
			memcpy(msg, M->msg, sizeof(M->msg));
			cut = true;
			start -= chunk;	/* the same place holds other steps now */
		}
	}
	free(cand);
	return len;
}

FIXTURE(model) {
	const char *skipped;
	int devs;		/* devices of the variant that exist */
	bool excl;
	int fault_around;	/* HMM_MOCK_STATS' fault_around_pages of device 0 */
};

FIXTURE_VARIANT(model) {
	int devs, salt;
	bool compaction;	/* hmm_mock_compact_elsewhere() during the walk */
};

FIXTURE_VARIANT_ADD(model, private) { .devs = 0x3, .salt = 1 };
FIXTURE_VARIANT_ADD(model, coherent) { .devs = 0xc, .salt = 2 };
FIXTURE_VARIANT_ADD(model, mixed) { .devs = 0xf, .salt = 3 };
FIXTURE_VARIANT_ADD(model, mixed_under_compaction) { .devs = 0xf, .salt = 4, .compaction = true };

FIXTURE_SETUP(model)
{
	const char *why = NULL;
	int d, fd, err = 0;

	for (d = 0; d < NDEV; d++) {
		if (!(variant->devs & (1 << d)))
			continue;
		fd = hmm_mock_open(d, &why, &err);
		ASSERT_TRUE(fd >= 0 || why) TH_LOG("open hmm_dmirror%d: %s", d, strerror(-err));
		self->devs |= (fd >= 0) << d;
		if (fd >= 0 && IS_PRIVATE(d))
			self->fault_around = hmm_mock_stats(fd).fault_around_pages;
		if (fd >= 0)
			close(fd);	/* the walks open their own files */
	}
	if (!self->devs) {
		self->skipped = why;
		SKIP(return, "%s", why);
	}
	/* EXCLUSIVE is -EOPNOTSUPP exactly where device-private memory is absent. */
	self->excl = !access("/dev/hmm_dmirror0", F_OK);
}

FIXTURE_TEARDOWN(model)
{
}

static void walk(struct __test_metadata *_metadata, FIXTURE_DATA(model) *self, int salt,
		 bool compaction)
{
	unsigned long long base = strtoull(getenv("HMM_MOCK_MODEL_SEED") ?: "0", NULL, 0);
	int n = atoi(getenv("HMM_MOCK_MODEL_STEPS") ?: "0") ?: DEFAULT_STEPS;
	struct sigaction sa = { .sa_handler = on_cpu_fault, .sa_flags = SA_NODEFER };
	struct cfg c = { .devs = self->devs, .excl = self->excl,
			 .fault_around = self->fault_around };
	char line[192], cat[16], msg[sizeof(((struct model *)0)->msg)], *tok;
	unsigned long long seed = (base = base ?: (unsigned long long)time(NULL)) + salt;
	int fail, i, replays = 0;
	static struct model M;
	struct step *steps;
	struct sysinfo si;
	pid_t compactor;
	double t0;

	n = n < 1 ? 1 : n > INIT_ID ? INIT_ID : n;
	psz = getpagesize();
	buf = malloc(MAX_PAGES * psz);
	steps = malloc(n * sizeof(*steps));
	ASSERT_TRUE(buf && steps);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	hmm_mock_stay_on_this_cpu();
	compactor = compaction ? hmm_mock_compact_elsewhere() : 0;
	if (compactor < 0)
		SKIP(return, "no compaction: /proc/sys/vm/compact_memory: %s", strerror(-compactor));
	/* Compaction migrates device-exclusive pages too (7.x): not modelled. */
	if (compaction)
		c.skip |= 1u << OP_EXCL | 1u << OP_CHECK_EXCL;
	c.swap = !sysinfo(&si) && si.totalswap;
	snprintf(line, sizeof(line), "%s", getenv("HMM_MOCK_MODEL_SKIP") ?: "");
	for (tok = strtok(line, ","); tok; tok = strtok(NULL, ","))
		for (i = 0; i < NR_OPS; i++)
			c.skip |= !strcmp(tok, op_name[i]) << i;
	generate(&c, steps, n, seed);
	ksft_print_msg("seed %llu (HMM_MOCK_MODEL_SEED=%llu + %d), %d steps, devices %#x, exclusive %s, swap %s, compaction %s, skip %#x, fault-around %d, ranges of %d/%d/%d pages\n",
		       seed, (unsigned long long)base, salt, n, c.devs, c.excl ? "yes" : "no",
		       c.swap ? "on" : "off", compactor > 0 ? "on another CPU" : "off", c.skip,
		       c.fault_around, c.npages[0], c.npages[1], c.npages[2]);
	c.deadline = (t0 = hmm_mock_now()) + WALK_SECS;
	fail = replay(&M, &c, steps, n);
	for (line[0] = 0, i = 0; i < NR_OPS; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %lu", M.ran[i]);
	ksft_print_msg("%lu steps run, %lu ioctls, %.1f s; by operation:%s\n", M.steps, M.ioctls,
		       hmm_mock_now() - t0, line);
	if (M.retried || M.resnapped)
		ksft_print_msg("%lu MIGRATE_TO_DEV asked again for pages the kernel skipped, %lu SNAPSHOT taken again for pages in migration\n",
			       M.retried, M.resnapped);
	for (i = 0; i < NDEV; i++)
		if (M.in_use0[i])
			ksft_print_msg("dev%d had %llu pages in use before the walk, stuck since an earlier failure: failures on dev%d may follow from that one\n",
				       i, M.in_use0[i], i);
	fflush(stdout);	/* the 6.1 harness ends a passing test with _exit() */
	if (fail < 0) {
		hmm_mock_stop(compactor);
		return;
	}
	ksft_print_msg("FAILED at step %d of seed %llu (to rerun: HMM_MOCK_MODEL_SEED=%llu HMM_MOCK_MODEL_STEPS=%d):\n",
		       fail, seed, (unsigned long long)base, n);
	print_step(&steps[fail]);
	ksft_print_msg("  %s check: %s\n", M.cat, M.msg);
	snprintf(cat, sizeof(cat), "%s", M.cat);
	memcpy(msg, M.msg, sizeof(msg));
	i = atoi(getenv("HMM_MOCK_MODEL_SHRINK_SECS") ?: "0") ?: SHRINK_SECS;
	c.deadline = (t0 = hmm_mock_now()) + i + 10;	/* a replay may overrun the search by that */
	n = shrink(&M, &c, steps, fail + 1, cat, i, &replays, msg);
	ksft_print_msg("shortest failing list found, seed %llu (%d steps, %d replays, %.1f s):\n",
		       seed, n, replays, hmm_mock_now() - t0);
	for (i = 0; i < n; i++)
		print_step(&steps[i]);
	ksft_print_msg("  -> %s check: %s\n", cat, msg);
	hmm_mock_stop(compactor);
	ASSERT_TRUE(false) TH_LOG("model check failed, seed %llu", seed);
}

/* A walk takes seconds, at most WALK_SECS; a failure adds SHRINK_SECS of shrinking. */
TEST_F_TIMEOUT(model, random_walk, 150)
{
	SKIP_IF_SETUP_SKIPPED();
	walk(_metadata, self, variant->salt, variant->compaction);
}

TEST_HARNESS_MAIN
