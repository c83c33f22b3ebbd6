// SPDX-License-Identifier: GPL-2.0
/*
 * Who keeps a device page alive: a CPU fault holds a reference on the page
 * it moves for as long as it uses it, whatever another thread does to the
 * mapping meanwhile (catalogue A4 in REPRODUCERS.md; the 7.3-mutant lane
 * has the fix reverted). HMM_MOCK_INJECT widens the window.
 */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

struct faulting_reader {
	const volatile int *p;
	int value;
	int done;
};

static void *read_through_fault(void *arg)
{
	struct faulting_reader *r = arg;

	r->value = *r->p;
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
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
	struct faulting_reader r = { 0 };
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
	INJECT_OR_SKIP(fd, 1000, 0, 0);

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
	EXPECT_EQ(0, hmm_mock_inject(fd, 0, 0, 0));
	munmap(p, page);
	close(fd);
}

TEST_HARNESS_MAIN
