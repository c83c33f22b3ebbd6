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
 * The calls, how they are drawn, predicted and judged, are in hmm_mock_fuzz.h.
 */
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_chaos.h"
#include "hmm_mock_fuzz.h"

#define TIMEOUT		300	/* harness timeout of each test */
#define BUDGET		200	/* seconds of calls before stopping early */
#define CALL_LIMIT	60	/* seconds one call may take */

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

TEST_F_TIMEOUT(fuzz, random_calls_fail_cleanly_or_work, TIMEOUT)
{
	unsigned long calls = chaos_env("HMM_MOCK_FUZZ_CALLS", 2000, 1, ~0UL), i, bad = 0;
	unsigned long rejected = 0, passed = 0, succeeded = 0, checks = 0;
	bool trace = chaos_env("HMM_MOCK_FUZZ_TRACE", 0, 0, 1);
	uint64_t r = chaos_state(self->seed, variant->id);
	double end = hmm_mock_now() + BUDGET;
	struct hmm_mock_stats st;
	struct fuzz *f = self->f;
	unsigned char why;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	TH_LOG("seed %#llx (HMM_MOCK_FUZZ_SEED), %lu calls, %d targets",
	       (unsigned long long)self->seed, calls, f->nt);
	for (i = 0; i < calls && hmm_mock_now() < end; i++) {
		const char *wrong;
		int want, alt, ret;
		struct call c;

		/* Only calls the input checks reject may start in the canary. */
		do {
			gen_call(f, &r, &c, true);
			want = predict(f, &c, &alt);
		} while (want >= 0 && (is_range_op(c.op) || c.op == HMM_MOCK_PAGE_INFO) &&
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

/*
 * A process that did not open the file: -EPERM for every command on an
 * address space (the HMM_DMIRROR_* commands and PAGE_INFO), whatever its
 * argument; the device-wide ones work as for the opener.
 */
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
			if ((is_dmirror(c.op) || c.op == HMM_MOCK_PAGE_INFO) && want != -ENOTTY) {
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
 * sizes 0..64 (and HMM_MOCK_STATS's, its earlier one and the largest), each direction, with
 * a readable argument and with NULL: only the ABI's numbers do anything.
 */
TEST_F_TIMEOUT(fuzz, ioctl_numbers_outside_the_abi_are_rejected, TIMEOUT)
{
	const unsigned int types[] = { 'H', HMM_MOCK_IOC_TYPE };
	unsigned long i, calls = 0, bad = 0;
	struct fuzz *f = self->f;
	unsigned char why;

	SKIP_IF_SETUP_SKIPPED();
	/*
	 * One loop over dir, type, nr, size (65: the stats' size, 66: the
	 * largest, 67 and 68: the stats' sizes before settle_sleeps and
	 * before fault_around_pages), NULL arg.
	 */
	for (i = 0; i < 4 * 2 * 17 * 69 * 2; i++) {
		unsigned int dir = i / (2 * 17 * 69 * 2), type = i / (17 * 69 * 2) % 2;
		unsigned int nr = i / (69 * 2) % 17, size = i / 2 % 69, null = i % 2;
		const size_t v3 = offsetof(struct hmm_mock_stats, fault_around_pages);
		unsigned int sz = size == 65 ? sizeof(struct hmm_mock_stats) :
				  size == 66 ? 0x3fff :
				  size == 67 ? offsetof(struct hmm_mock_stats, settle_sleeps) :
				  size == 68 ? v3 : size;
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
