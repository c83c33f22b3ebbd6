// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: threads of one process sharing one file, several processes on
 * one device, fork children and another process given the file (both may
 * use HMM_MOCK_STATS only), and the last close and HMM_DMIRROR_RELEASE
 * racing CPU access.
 *
 * Every page of an arena has one writer, its owner thread, which writes
 * increasing generations by CPU or device WRITE and acknowledges each one
 * that completed; every thread reads, migrates, snapshots and takes
 * exclusive access anywhere at random. Each 64-bit word names its page,
 * its index and its generation, so any read checks that no data went
 * missing, moved or went stale. After the threads are joined every page
 * holds exactly its last acknowledged generation, by CPU and by device
 * READ; once everything is unmapped no device page is left in use, RELEASE
 * succeeds and the counters balance.
 *
 * HMM_MOCK_STRESS_SECONDS (default 10, at most 120) bounds each test;
 * HMM_MOCK_STRESS_SEED seeds the random choices (printed);
 * HMM_MOCK_STRESS_SKIP="exclusive,release,..." (op names as printed)
 * leaves ops out, to narrow a failure down.
 * Fixture stress: every test runs on device-private memory (device 0) and
 * on device-coherent memory (device 2).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_chaos.h"

#define MAX_SECONDS	120
#define TIMEOUT		(2 * MAX_SECONDS + 60)	/* harness timeout of each test */
#define BLOCK		4	/* pages in a block; a block has one owner */
#define BLOCKS		8	/* blocks of each worker */
#define MAX_RUN		16	/* pages of one command */
#define CHILD_GEN	0xC0DE0000u	/* what a fork child writes over its copy */

enum {
	OP_CPU_WRITE, OP_DEV_WRITE, OP_CPU_READ, OP_READ, OP_TO_DEV, OP_TO_SYS, OP_SNAPSHOT,
	OP_EXCLUSIVE, OP_CHECK_EXCL, OP_RELEASE, OP_FLAGS, OP_CHURN, OP_FORK, OP_PASS, OP_CLOSE,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {
	"cpu_write", "dev_write", "cpu_read", "read", "to_dev", "to_sys", "snapshot", "exclusive",
	"check_excl", "release", "flags", "churn", "fork", "pass_fd", "last_close",
};

/* What the chaos thread does besides RELEASE and fault injection. */
enum chaos { CHAOS_NONE, CHAOS_CHURN, CHAOS_FORK, CHAOS_PASS, CHAOS_CLOSE };

/* Outcome of one process's run; in shared memory for multi-process tests. */
struct tally {
	unsigned long ops[NR_OPS], ebusy, enoent;
	char fail[256];
};

struct arena {
	int fd, id, rx_in, rx_out;	/* rx_*: to and from the receiver */
	bool coherent, exclusive, unlocked, scm;
	enum chaos chaos;
	size_t page;
	char *base;
	unsigned long npages;
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
	uint64_t *buf;		/* MAX_RUN pages */
	unsigned char snap[MAX_RUN];
	uint32_t lo[MAX_RUN];	/* generations acknowledged before a command */
	pthread_t tid;
};

FIXTURE(stress) {
	int fd;
	size_t page;
	bool exclusive, unlocked;
	uint64_t seed;
	struct hmm_mock_stats st0;
	const char *skipped;
};

FIXTURE_VARIANT(stress) {
	int id;
	bool coherent;
};

FIXTURE_VARIANT_ADD(stress, private) { .id = HMM_MOCK_PRIVATE0, .coherent = false };
FIXTURE_VARIANT_ADD(stress, coherent) { .id = HMM_MOCK_COHERENT0, .coherent = true };

FIXTURE_SETUP(stress)
{
	char *p;

	self->page = sysconf(_SC_PAGESIZE);
	self->seed = chaos_seed("HMM_MOCK_STRESS_SEED");
	HMM_MOCK_OPEN_OR_SKIP(self->fd, variant->id, self->skipped);
	self->st0 = hmm_mock_stats(self->fd);
	p = mmap(NULL, 2 * self->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 1, self->page);
	/* Kernels without device-exclusive entries or unlocked faults. */
	self->exclusive = hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, p + self->page, 1,
				       NULL) != -EOPNOTSUPP;
	self->unlocked = hmm_mock_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED, p, p + self->page, 1,
				      NULL) != -ENOTTY;
	munmap(p, 2 * self->page);
}

FIXTURE_TEARDOWN(stress)
{
	if (self->fd >= 0)
		close(self->fd);
}

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
	return __atomic_load_n(&a->stop, __ATOMIC_RELAXED) || chaos_now() > a->deadline;
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
	unsigned long block = w->idx + a->nworkers * chaos_below(&w->rng, BLOCKS);
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
	unsigned long pg = chaos_below(&w->rng, a->npages), n, i;
	struct hmm_dmirror_cmd cmd = { 0 };
	unsigned int k;
	void *ptr;
	int op, ret;

	n = 1 + chaos_below(&w->rng, a->npages - pg < MAX_RUN ? a->npages - pg : MAX_RUN);
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
		b = w->snap[i];
		if ((b & 0xf0 && (b & 0xf0) != local) || (b & 0x0f) > HMM_DMIRROR_PROT_WRITE ||
		    (b & 0xf0 && !(b & 0x0f)))
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

static int open_node(struct arena *a)
{
	char node[32];

	hmm_mock_node(node, sizeof(node), a->id);
	return open(node, O_RDWR | O_CLOEXEC);
}

/*
 * What a process that did not open @fd may do with it: every HMM_DMIRROR_*
 * command is -EPERM (READ_UNLOCKED -ENOTTY where the kernel lacks it) and
 * leaves its argument alone; HMM_MOCK_STATS works. Returns 0, or the number
 * of the check that failed.
 */
static int foreign_checks(struct arena *a, int fd)
{
	struct hmm_mock_stats st;
	unsigned int i;

	for (i = 0; i < CHAOS_NR_DMIRROR_OPS; i++) {
		struct hmm_dmirror_cmd cmd = { (uintptr_t)a->base, (uintptr_t)a->base, 1, 7, 7 };
		struct hmm_dmirror_cmd before = cmd;
		int want = chaos_dmirror_ops[i] == HMM_DMIRROR_READ_UNLOCKED && !a->unlocked ?
			   -ENOTTY : -EPERM;

		if (hmm_mock_ioctl(fd, chaos_dmirror_ops[i], &cmd) != want ||
		    memcmp(&cmd, &before, sizeof(cmd)))
			return 10 + i;
	}
	return ioctl(fd, HMM_MOCK_STATS, &st) ? 30 : 0;
}

/*
 * A fork child, with the parent's file: foreign_checks(), its copy of the
 * arena is intact, and a file it opens itself works on its copy. Exit
 * status: 0, or the number of the check that failed.
 */
static int fork_child(struct arena *a, uint64_t *buf)
{
	int fd, ret = foreign_checks(a, a->fd), tries;
	unsigned long i;

	/* Pages the parent was writing at the fork may mix two generations. */
	for (i = 0; i < a->npages && !ret; i++)
		if (check_page(a, page_at(a, i), i, 1, UINT32_MAX) >= 0)
			ret = 31;
	for (i = 0; i < a->npages; i++)
		fill_page(a, page_at(a, i), i, CHILD_GEN);
	fd = open_node(a);
	if (ret || fd < 0)
		return ret ? ret : 32;
	for (i = 0; i < a->npages; i += MAX_RUN) {
		ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, page_at(a, i), buf, MAX_RUN,
				   NULL);
		if (ret && ret != -ENOENT && ret != -EBUSY)
			return 33;
		tries = 0;
		do {
			ret = hmm_mock_cmd(fd, HMM_DMIRROR_READ, page_at(a, i), buf, MAX_RUN, NULL);
		} while (ret == -EBUSY && ++tries < 10);
		if (ret)
			return 34;
	}
	for (i = 0; i < a->npages; i++)
		if (check_page(a, page_at(a, i), i, CHILD_GEN, CHILD_GEN) >= 0)
			return 35;
	close(fd);
	return 0;
}

/*
 * The other end of CHAOS_PASS, another process: it gets files of ours by
 * SCM_RIGHTS or, on kernels without networking, takes them with
 * pidfd_getfd(), says so, and once told that we closed our copy (its close
 * is then the file's last) answers with foreign_checks() of the file.
 */
static int receiver(struct arena *a, int in, int out)
{
	int fd, pidfd = a->scm ? -1 : syscall(SYS_pidfd_open, getppid(), 0);
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	for (;;) {
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof(ctl);
		if (a->scm ? recvmsg(in, &msg, 0) != 1 : read(in, &fd, sizeof(fd)) != sizeof(fd))
			return 0;	/* the sender is done */
		cm = a->scm ? CMSG_FIRSTHDR(&msg) : NULL;
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		else
			fd = a->scm ? -1 : syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (write(out, "g", 1) != 1 || read(in, &c, 1) != 1)
			return 1;
		c = fd < 0 ? 40 : foreign_checks(a, fd);
		close(fd);
		if (write(out, &c, 1) != 1)
			return 1;
	}
}

/* Hands @fd to the receiver, closes it here if @last; returns the verdict (0: fine). */
static int pass_fd(struct arena *a, int fd, bool last)
{
	char c = 1, ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			      .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	if ((a->scm ? sendmsg(a->rx_in, &msg, 0) != 1 :
		      write(a->rx_in, &fd, sizeof(fd)) != sizeof(fd)) ||
	    read(a->rx_out, &c, 1) != 1)
		return -1;
	if (last)
		close(fd);
	if (write(a->rx_in, "c", 1) != 1)
		return -1;
	return read(a->rx_out, &c, 1) == 1 ? c : -1;
}

/* MIGRATE_TO_DEV of MAX_RUN pages from @pg through @fd, checked. */
static void to_dev(struct worker *w, int fd, unsigned long pg)
{
	int ret;

	note_lo(w, pg, MAX_RUN);
	ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, page_at(w->a, pg), w->buf, MAX_RUN,
			   NULL);
	if (racy_ok(w->a, OP_TO_DEV, ret, true, pg, MAX_RUN))
		check_copy(w, OP_TO_DEV, w->buf, pg, MAX_RUN);
}

/*
 * A second file of this process, used on the arena; closed here, or passed
 * (or the workers' own file) to the receiver, which closes it last.
 */
static void churn(struct worker *w, bool pass)
{
	struct arena *a = w->a;
	bool last = chaos_below(&w->rng, 3);
	int fd = open_node(a), ret;

	if (fd < 0) {
		failf(a, "open %d: %s", a->id, strerror(errno));
		return;
	}
	to_dev(w, fd, chaos_below(&w->rng, a->npages - MAX_RUN + 1));
	count(&a->t.ops[pass ? OP_PASS : OP_CHURN]);
	ret = pass ? pass_fd(a, last ? fd : a->fd, last) : 0;
	if (ret)
		failf(a, "the receiver of a file: check %d failed", ret);
	if (!pass || !last)
		close(fd);
}

static void fork_one(struct worker *w)
{
	struct arena *a = w->a;
	int status;
	pid_t pid;

	count(&a->t.ops[OP_FORK]);
	pid = fork();
	if (!pid)
		_exit(fork_child(a, w->buf));
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		failf(a, "fork: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		failf(a, "fork child: status %#x (check %d failed)", status, WEXITSTATUS(status));
}

/*
 * The last close racing CPU access: a file of its own moves the arena to
 * the device, perhaps RELEASEs it, and its close, the device's last,
 * evicts what is left while the workers touch the pages.
 */
static void last_close(struct worker *w)
{
	struct arena *a = w->a;
	unsigned long pg;
	int fd = open_node(a);

	if (fd < 0) {
		failf(a, "open %d: %s", a->id, strerror(errno));
		return;
	}
	count(&a->t.ops[OP_CLOSE]);
	for (pg = 0; pg < a->npages && !stopped(a); pg += MAX_RUN)
		to_dev(w, fd, pg);
	if (!chaos_below(&w->rng, 3))
		racy_ok(a, OP_RELEASE, hmm_mock_cmd(fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL),
			false, 0, 0);
	close(fd);
}

static void *chaos_main(void *arg)
{
	struct worker *w = arg;
	struct arena *a = w->a;
	int ret;

	while (!stopped(a)) {
		unsigned int r = chaos_below(&w->rng, 100);

		usleep(1000 + chaos_below(&w->rng, 9000));
		if (a->skip & 1UL << (r < 15 ? OP_RELEASE : r < 25 ? OP_FLAGS : OP_CHURN))
			continue;	/* OP_CHURN stands for churn, fork, pass_fd, last_close */
		if (a->chaos == CHAOS_CLOSE) {
			last_close(w);
		} else if (r < 15) {
			count(&a->t.ops[OP_RELEASE]);
			ret = hmm_mock_cmd(a->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL);
			racy_ok(a, OP_RELEASE, ret, false, 0, 0);
		} else if (r < 25) {
			/* The next device allocation of the file fails: -ENOENT. */
			count(&a->t.ops[OP_FLAGS]);
			ret = hmm_mock_cmd(a->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
					   HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL);
			if (ret)
				failf(a, "flags: %s", strerror(-ret));
		} else if (a->chaos == CHAOS_CHURN || a->chaos == CHAOS_PASS) {
			churn(w, a->chaos == CHAOS_PASS);
		} else if (a->chaos == CHAOS_FORK && r < 60) {
			fork_one(w);
		}
	}
	return NULL;
}

/* An arena of @nworkers * BLOCKS blocks, every page at generation 1. */
static int arena_init(FIXTURE_DATA(stress) *self, const FIXTURE_VARIANT(stress) *variant,
		      struct arena *a, unsigned int nworkers, int fd, enum chaos chaos,
		      uint64_t seed)
{
	unsigned long pg, n = nworkers * BLOCKS * BLOCK;

	*a = (struct arena){
		.fd = fd, .id = variant->id, .coherent = variant->coherent,
		.exclusive = self->exclusive, .unlocked = self->unlocked, .chaos = chaos,
		.page = self->page, .npages = n, .nworkers = nworkers, .seed = seed,
		.ack = calloc(n, sizeof(uint32_t)), .tried = calloc(n, sizeof(uint32_t)),
		.base = mmap(NULL, n * self->page, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	};
	pthread_mutex_init(&a->lock, NULL);
	for (pg = 0; pg < NR_OPS; pg++) {
		char list[256], name[32];

		snprintf(list, sizeof(list), ",%s,", getenv("HMM_MOCK_STRESS_SKIP") ?: "");
		snprintf(name, sizeof(name), ",%s,", op_names[pg]);
		if (strstr(list, name))
			a->skip |= 1UL << pg;
	}
	if (a->base == MAP_FAILED || !a->ack || !a->tried)
		return -1;
	madvise(a->base, n * a->page, MADV_NOHUGEPAGE);
	for (pg = 0; pg < n; pg++) {
		fill_page(a, page_at(a, pg), pg, 1);
		a->ack[pg] = 1;
		a->tried[pg] = 1;
	}
	return 0;
}

/* Runs the workers and the chaos thread for HMM_MOCK_STRESS_SECONDS. */
static void arena_run(struct arena *a)
{
	struct worker w[a->nworkers + 1];
	void *(*fn)(void *arg);
	unsigned int i;

	a->deadline = chaos_now() + chaos_env("HMM_MOCK_STRESS_SECONDS", 10, 1, MAX_SECONDS);
	for (i = 0; i <= a->nworkers; i++) {
		w[i] = (struct worker){ .a = a, .idx = i, .rng = chaos_state(a->seed, i) };
		w[i].buf = malloc(MAX_RUN * a->page);
		fn = i < a->nworkers ? worker_main : chaos_main;
		if (!w[i].buf || pthread_create(&w[i].tid, NULL, fn, &w[i])) {
			failf(a, "starting thread %u failed", i);
			free(w[i].buf);
			break;
		}
	}
	while (i--) {
		pthread_join(w[i].tid, NULL);
		free(w[i].buf);
	}
}

/*
 * After the run: every page holds exactly its last acknowledged generation,
 * by device READ through @fd and by CPU. Returns false with @why set if not.
 */
static bool arena_verify(struct arena *a, int fd, char *why, size_t len)
{
	char *buf = malloc(a->npages * a->page), *p;
	int ret = -ENOMEM, tries = 0;
	unsigned long i, pg;
	long bad;

	while (buf && (ret = hmm_mock_cmd(fd, HMM_DMIRROR_READ, a->base, buf, a->npages, NULL)) ==
	       -EBUSY && ++tries < 10)
		;
	if (ret)
		snprintf(why, len, "READ of the arena: %s", strerror(-ret));
	for (i = 0; i < 2 * a->npages && !ret; i++) {
		pg = i % a->npages;
		p = i < a->npages ? buf + pg * a->page : page_at(a, pg);
		bad = check_page(a, p, pg, a->ack[pg], a->ack[pg]);
		if (bad >= 0)
			ret = snprintf(why, len, "%s: page %lu word %ld is %#llx, want %u",
				       i < a->npages ? "device READ" : "CPU", pg, bad,
				       ((unsigned long long *)p)[bad], a->ack[pg]);
	}
	free(buf);
	return !ret;
}

/*
 * The end of every test: what the run did, nothing failed, the data is
 * right (of @a, when given and @verify), and once the arena is gone no
 * device page is left in use, RELEASE succeeds and the counters balance.
 */
static void finish(struct __test_metadata *_metadata, FIXTURE_DATA(stress) *self,
		   struct arena *a, const struct tally *t, bool verify)
{
	unsigned long total = 0;
	struct hmm_mock_stats st;
	char line[512], why[256];
	int i, len = 0;

	line[0] = 0;
	for (i = 0; i < NR_OPS; i++) {
		total += t->ops[i];
		if (t->ops[i])
			len += snprintf(line + len, sizeof(line) - len, " %s %lu", op_names[i],
					t->ops[i]);
	}
	TH_LOG("seed %#llx: %lu ops:%s; -EBUSY %lu, -ENOENT %lu",
	       (unsigned long long)self->seed, total, line, t->ebusy, t->enoent);
	EXPECT_EQ(0, t->fail[0]) TH_LOG("%s", t->fail);
	if (a && verify)
		EXPECT_TRUE(arena_verify(a, self->fd, why, sizeof(why))) TH_LOG("%s", why);
	if (a) {
		ASSERT_EQ(0, munmap(a->base, a->npages * a->page));
		free(a->ack);
		free(a->tried);
	}
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(self->st0.pages_in_use, st.pages_in_use);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL));
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(st.pages_total, st.pages_free + st.pages_in_use);
	EXPECT_EQ(0UL, st.pages_in_use);
}

/* Threads on one file; a second file opened, used and closed; RELEASE; FAIL_ALLOC. */
TEST_F_TIMEOUT(stress, threads_share_one_file, TIMEOUT)
{
	struct arena a;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, arena_init(self, variant, &a, 4, self->fd, CHAOS_CHURN, self->seed));
	arena_run(&a);
	finish(_metadata, self, &a, &a.t, true);
}

/* Three processes, each with its own file, arena and threads; all RELEASE. */
TEST_F_TIMEOUT(stress, processes_share_one_device, TIMEOUT)
{
	struct tally *shared, sum = { 0 };
	struct arena a;
	pid_t pid[3];
	int i, op, fd;

	SKIP_IF_SETUP_SKIPPED();
	shared = mmap(NULL, 3 * sizeof(*shared), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, shared);
	memset(shared, 0, 3 * sizeof(*shared));
	for (i = 0; i < 3; i++) {
		pid[i] = fork();
		ASSERT_GE(pid[i], 0);
		if (pid[i])
			continue;
		fd = open_node(&(struct arena){ .id = variant->id });
		if (fd < 0 || arena_init(self, variant, &a, 2, fd, CHAOS_NONE,
					 chaos_state(self->seed, 100 + i)))
			_exit(2);
		arena_run(&a);
		if (!a.t.fail[0])
			arena_verify(&a, fd, a.t.fail, sizeof(a.t.fail));
		shared[i] = a.t;
		_exit(0);
	}
	for (i = 0; i < 3; i++) {
		EXPECT_CHILD_OK(pid[i]);
		for (op = 0; op < NR_OPS; op++)
			sum.ops[op] += shared[i].ops[op];
		sum.ebusy += shared[i].ebusy;
		sum.enoent += shared[i].enoent;
		if (!sum.fail[0])
			memcpy(sum.fail, shared[i].fail, sizeof(sum.fail));
	}
	finish(_metadata, self, NULL, &sum, false);
	munmap(shared, 3 * sizeof(*shared));
}

/* Fork children that inherit the file while the threads run. */
TEST_F_TIMEOUT(stress, fork_children_get_eperm_with_inherited_file, TIMEOUT)
{
	struct arena a;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, arena_init(self, variant, &a, 3, self->fd, CHAOS_FORK, self->seed));
	arena_run(&a);
	finish(_metadata, self, &a, &a.t, true);
}

/*
 * Files handed to another process (SCM_RIGHTS, or pidfd_getfd() on kernels
 * without networking), which often closes them last while we use ours.
 */
TEST_F_TIMEOUT(stress, file_passed_to_other_process_gets_eperm, TIMEOUT)
{
	struct arena a, rx = { .unlocked = self->unlocked };
	int sv[2], req[2], resp[2];
	pid_t pid;

	SKIP_IF_SETUP_SKIPPED();
	rx.scm = !socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (rx.scm) {
		memcpy(req, (int []){ sv[1], sv[0] }, sizeof(req));
		memcpy(resp, (int []){ sv[0], sv[1] }, sizeof(resp));
	} else {
		ASSERT_EQ(0, pipe(req));
		ASSERT_EQ(0, pipe(resp));
	}
	TH_LOG("files passed by %s", rx.scm ? "SCM_RIGHTS" : "pidfd_getfd() (no AF_UNIX)");
	/* Forked before the arena exists: it shares none of its pages. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		close(self->fd);
		close(req[1]);
		close(resp[0]);	/* the same socket as req[1] with SCM_RIGHTS */
		_exit(receiver(&rx, req[0], resp[1]));
	}
	close(req[0]);
	close(resp[1]);
	ASSERT_EQ(0, arena_init(self, variant, &a, 3, self->fd, CHAOS_PASS, self->seed));
	a.scm = rx.scm;
	a.rx_in = req[1];
	a.rx_out = resp[0];
	arena_run(&a);
	close(req[1]);
	close(resp[0]);
	EXPECT_CHILD_OK(pid);
	finish(_metadata, self, &a, &a.t, true);
}

/* The workers touch the pages by CPU only; no file stays open between closes. */
TEST_F_TIMEOUT(stress, last_close_and_release_race_cpu_access, TIMEOUT)
{
	struct hmm_mock_stats st;
	const char *reason;
	char why[256];
	struct arena a;
	int err;

	SKIP_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, arena_init(self, variant, &a, 3, -1, CHAOS_CLOSE, self->seed));
	arena_run(&a);
	self->fd = hmm_mock_open(variant->id, &reason, &err);
	ASSERT_GE(self->fd, 0) TH_LOG("reopen: %s", strerror(-err));
	/* The last close evicted everything: nothing is left on the device. */
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(0UL, st.pages_in_use);
	EXPECT_TRUE(arena_verify(&a, self->fd, why, sizeof(why))) TH_LOG("%s", why);
	finish(_metadata, self, &a, &a.t, false);
}

/*
 * The sequence behind the stress tests' leaks of device-coherent pages on
 * 6.12, as a deterministic case (last, since what it leaks stays): pages
 * on the device taken exclusive, then evicted, must be freed at munmap.
 */
TEST_F_TIMEOUT(stress, exclusive_device_pages_are_freed_after_eviction, TIMEOUT)
{
	const size_t len = 8 * self->page;
	struct hmm_mock_stats st;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	if (!self->exclusive)
		SKIP(return, "kernel without device-exclusive entries (CONFIG_DEVICE_PRIVATE=n)");
	p = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	madvise(p, 2 * len, MADV_NOHUGEPAGE);
	hmm_mock_fill(p, len, 613);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, p + len, 8, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_EXCLUSIVE, p, p + len, 8, NULL));
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 613));
	ASSERT_EQ(0, munmap(p, 2 * len));
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(self->st0.pages_in_use, st.pages_in_use);
	EXPECT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL));
}

TEST_HARNESS_MAIN
