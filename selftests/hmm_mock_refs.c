// SPDX-License-Identifier: GPL-2.0
/*
 * Who keeps a page alive: a CPU fault holds a reference on the device page
 * it moves, or on the page whose exclusive access it revokes, for as long
 * as it uses it, whatever another thread does to the mapping meanwhile
 * (catalogue A4 and E1 in REPRODUCERS.md; the 7.3-mutant lane has their
 * fixes reverted). HMM_MOCK_INJECT widens the windows.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

struct faulting_access {
	volatile int *p;
	int value;
	int done;
	pid_t tid;	/* the thread's, set before it accesses *p */
};

static void *read_through_fault(void *arg)
{
	struct faulting_access *r = arg;

	r->value = *r->p;
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *write_through_fault(void *arg)
{
	struct faulting_access *w = arg;

	__atomic_store_n(&w->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	*w->p = w->value;
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * True once a CPU fault holds the page at @p: it took its reference (every
 * kernel since 6.1) or the page lock (since 6.15). Gives up after 5 s.
 */
static bool fault_holds_page(int fd, const void *p)
{
	double deadline = hmm_mock_now() + 5;
	struct hmm_mock_page_info info;

	while (hmm_mock_now() < deadline) {
		if (hmm_mock_page_info(fd, p, 1, &info))
			return false;
		if (info.refcount > 1 || (info.flags & HMM_MOCK_PAGE_LOCKED))
			return true;
		sched_yield();
	}
	return false;
}

/*
 * A4 (16ce101db85d, CVE-2022-3523): MADV_DONTNEED from another thread
 * zaps a device page while a CPU fault on it sleeps in migrate_to_ram.
 * The fault's reference keeps the page off the free list until the fault
 * is done with it; the fault then finds the entry gone and retries onto
 * the zero page.
 */
TEST(a_cpu_fault_keeps_its_device_page_when_another_thread_zaps_it)
{
	size_t page = sysconf(_SC_PAGESIZE);
	struct faulting_access r = { 0 };
	struct hmm_mock_stats st0, st1, st2;
	const char *skipped;
	pthread_t reader;
	int fd, *p, buf[1024];

	HMM_MOCK_OPEN_OR_SKIP(fd, HMM_MOCK_PRIVATE0, skipped);
	(void)skipped;
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	hmm_mock_fill(p, page, 71);
	ASSERT_LE(page, sizeof(buf));
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 1, NULL));
	INJECT_OR_SKIP(fd, .fault_delay_ms = 1000);

	st0 = hmm_mock_stats(fd);
	r.p = p;
	ASSERT_EQ(0, pthread_create(&reader, NULL, read_through_fault, &r));
	ASSERT_TRUE(fault_holds_page(fd, p));
	ASSERT_EQ(0, madvise(p, page, MADV_DONTNEED));
	st1 = hmm_mock_stats(fd);
	/* Only meaningful while the fault still sleeps (1 s). */
	ASSERT_EQ(0, __atomic_load_n(&r.done, __ATOMIC_ACQUIRE));
	EXPECT_EQ(st0.page_frees, st1.page_frees) TH_LOG("page freed under the fault");

	ASSERT_EQ(0, pthread_join(reader, NULL));
	EXPECT_EQ(0, r.value);
	st2 = hmm_mock_stats(fd);
	EXPECT_EQ(st0.page_frees + 1, st2.page_frees);
	EXPECT_EQ(st0.cpu_faults, st2.cpu_faults);
	EXPECT_EQ(st0.pages_in_use - 1, st2.pages_in_use);
	EXPECT_EQ(0, hmm_mock_inject(fd, HMM_MOCK_KNOBS(0)));
	munmap(p, page);
	close(fd);
}

#define LRU_BATCH	31	/* pages a CPU's LRU batch holds (PAGEVEC_SIZE) */

/* True if thread @tid of this process sleeps uninterruptibly (state D). */
static bool thread_in_d_state(pid_t tid)
{
	char path[64], buf[512], *s;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	s = hmm_mock_proc_stat(path, buf, sizeof(buf));
	return s && *s == 'D';
}

/*
 * True once the writer @w sleeps in the kernel with the page at @p locked:
 * inside the delayed invalidation. Gives up after 5 s.
 */
static bool fault_sleeps_holding_lock(int fd, const void *p, struct faulting_access *w)
{
	double deadline = hmm_mock_now() + 5;
	struct hmm_mock_page_info info;
	pid_t tid;

	while (hmm_mock_now() < deadline) {
		tid = __atomic_load_n(&w->tid, __ATOMIC_ACQUIRE);
		if (hmm_mock_page_info(fd, p, 1, &info))
			return false;
		if (tid && (info.flags & HMM_MOCK_PAGE_LOCKED) && thread_in_d_state(tid))
			return true;
		sched_yield();
	}
	return false;
}

/*
 * E1 (7c7b962938dd): a CPU write revokes the device's exclusive access to
 * a page while another thread zaps it with MADV_DONTNEED. The fault locks
 * the page to restore its entry, and the device's invalidation sleeps
 * meanwhile (revoke_delay_ms). The fault's reference keeps the zapped page
 * from being freed while it is locked: it is still anonymous memory and
 * mapped nowhere (/proc/kpageflags and kpagecount, root). Before 6.3 it
 * went back to the allocator locked, which then reported "Bad page state"
 * (from 6.3 on, the kernel checks pages it frees only with DEBUG_VM,
 * init_on_free or debug_pagealloc, hence the page flags here), and the
 * fault unlocked a page it no longer had. The fault then finds the entry
 * gone and writes to a new zero-filled page.
 */
TEST(a_cpu_fault_revoking_exclusive_access_keeps_its_page_when_another_thread_zaps_it)
{
	size_t page = sysconf(_SC_PAGESIZE);
	struct faulting_access w = { .value = 7 };
	const size_t others = 2 * LRU_BATCH * page;
	struct hmm_mock_page_info info;
	int64_t flags, maps;
	const char *skipped;
	cpu_set_t all;
	pthread_t writer;
	int fd, *p, buf[1024];
	char *q;
	size_t i;

	HMM_MOCK_OPEN_OR_SKIP(fd, HMM_MOCK_PRIVATE0, skipped);
	(void)skipped;
	ASSERT_EQ(0, hmm_mock_stay_on_this_cpu_saving(&all));
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, page, MADV_NOHUGEPAGE));
	hmm_mock_fill(p, page, 73);
	/*
	 * New pages on this CPU push the page out of its LRU batch, whose
	 * reference would keep the page alive whatever the fault holds.
	 */
	q = mmap(NULL, others, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, q);
	ASSERT_EQ(0, madvise(q, others, MADV_NOHUGEPAGE));
	memset(q, 1, others);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(all), &all));
	ASSERT_LE(page, sizeof(buf));
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_EXCLUSIVE, p, buf, 1, NULL));
	ASSERT_EQ(0, hmm_mock_page_info(fd, p, 1, &info));
	ASSERT_TRUE(!!(info.flags & HMM_MOCK_PAGE_DEVICE_EXCLUSIVE));
	ASSERT_EQ(1, info.refcount) TH_LOG("references besides its mapping");
	INJECT_OR_SKIP(fd, .revoke_delay_ms = 1000);
	if (hmm_mock_kpage("/proc/kpageflags", info.pfn) < 0)
		SKIP(return, "/proc/kpageflags needs root");

	w.p = p;
	ASSERT_EQ(0, pthread_create(&writer, NULL, write_through_fault, &w));
	ASSERT_TRUE(fault_sleeps_holding_lock(fd, p, &w));
	ASSERT_EQ(0, madvise(p, page, MADV_DONTNEED));
	flags = hmm_mock_kpage("/proc/kpageflags", info.pfn);
	maps = hmm_mock_kpage("/proc/kpagecount", info.pfn);
	EXPECT_TRUE(flags >= 0 && (flags & KPF_ANON) && maps == 0)
		TH_LOG("page freed under the fault: kpageflags 0x%llx, mapped %lld times",
		       (long long)flags, (long long)maps);
	/* Only meaningful while the fault still sleeps (1 s). */
	ASSERT_EQ(0, __atomic_load_n(&w.done, __ATOMIC_ACQUIRE));

	ASSERT_EQ(0, pthread_join(writer, NULL));
	EXPECT_EQ(7, p[0]);
	for (i = 1; i < page / sizeof(*p) && !p[i]; i++)
		;
	EXPECT_EQ(page / sizeof(*p), i) TH_LOG("word %zu of the new page is not zero", i);
	EXPECT_EQ(0, hmm_mock_inject(fd, HMM_MOCK_KNOBS(0)));
	munmap(q, others);
	munmap(p, page);
	close(fd);
}

TEST_HARNESS_MAIN
