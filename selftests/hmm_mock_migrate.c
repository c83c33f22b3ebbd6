// SPDX-License-Identifier: GPL-2.0
/*
 * Migration of private anonymous memory to device memory and back: by
 * MIGRATE_TO_SYS and by CPU access, device access to migrated pages,
 * ranges that cannot migrate, repeated round trips, pages moving between
 * the two devices of a kind, and two migrations racing for one THP.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <pthread.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

TEST_F(mem, migrated_pages_return_on_cpu_access_with_data)
{
	struct hmm_mock_stats st0, st1, st2;
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(64, 11);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 11));
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use + n, st1.pages_in_use);

	/* The CPU sees its data: private pages fault back, coherent ones stay. */
	EXPECT_EQ(-1, hmm_mock_check(p, len, 11));
	st2 = hmm_mock_stats(self->fd);
	if (variant->coherent) {
		EXPECT_EQ(st1.cpu_faults, st2.cpu_faults);
		EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	} else {
		size_t w = st2.fault_around_pages * self->page;
		unsigned long windows;

		/*
		 * One fault for each aligned window the range touches, or
		 * more where a neighbour found no memory and stayed behind.
		 */
		ASSERT_LT(0UL, w);
		windows = ((uintptr_t)p + len - 1) / w - (uintptr_t)p / w + 1;
		EXPECT_LE(st1.cpu_faults + windows, st2.cpu_faults);
		EXPECT_GE(st1.cpu_faults + n, st2.cpu_faults);
		EXPECT_EQ(st0.pages_in_use, st2.pages_in_use);
		EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	}
}

/*
 * A CPU fault on a device-private page brings back the pages of its aligned
 * window (HMM_MOCK_STATS' fault_around_pages) that the same device holds,
 * and no others: not those past the window, nor the other device's page in
 * it. The CPU reads coherent memory in place (a window of 0).
 */
TEST_F(mem, a_cpu_fault_brings_back_its_window_of_the_device_and_nothing_more)
{
	unsigned long w = hmm_mock_stats(self->fd).fault_around_pages, first, touched, other, i;
	unsigned char *m, want;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(64, 17);
	ASSERT_EQ(variant->coherent, !w);
	ASSERT_GE(16UL, w);
	/* The first whole window after the range's first page; the fault hits its last page. */
	first = ((uintptr_t)p / (self->page * (w ?: 1)) + 1) * (w ?: 1) - (uintptr_t)p / self->page;
	touched = first + (w ? w - 1 : 0);
	other = w > 1 ? first + w / 2 : n;
	if (other < n) {
		ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV,
					  p + other * self->page, buf, 1, NULL));
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, other,
					  NULL));
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV,
					  p + (other + 1) * self->page, buf, n - other - 1, NULL));
	} else {
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	}

	/* The fault: this page's data, read by the CPU. */
	EXPECT_EQ(17 + (int)(touched * self->page / sizeof(int)),
		  *(int *)(p + touched * self->page));
	m = malloc(n);
	ASSERT_NE(NULL, m);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, m, n, NULL));
	for (i = 0; i < n; i++) {
		if (i == other)
			want = variant->coherent ? HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE |
						   HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_NONE;
		else if (i >= first && i < first + w)
			want = HMM_DMIRROR_PROT_WRITE;
		else
			want = local_prot(variant) | HMM_DMIRROR_PROT_WRITE;
		EXPECT_EQ(want, m[i]) TH_LOG("page %lu (window %lu..%lu, other %lu)", i, first,
					     first + w - 1, other);
		if (want != m[i])
			break;
	}
	free(m);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 17));
}

TEST_F(mem, migrate_to_system_moves_every_page_back)
{
	struct hmm_mock_stats st0, st1;
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(64, 13);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_EQ(st0.page_frees + n, st1.page_frees);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 13));

	/* Nothing left to move. */
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, &cmd));
	EXPECT_EQ(0UL, cmd.cpages);
}

TEST_F(mem, device_write_to_device_pages_is_seen_by_cpu)
{
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 17);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	hmm_mock_fill(buf, len, 21);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(0UL, cmd.faults);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 21));
}

TEST_F(mem, device_read_of_device_pages_after_invalidation)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char *m;
	unsigned long i;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 31);
	m = malloc(n);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* A protection change invalidates the device's mappings... */
	ASSERT_EQ(0, mprotect(p, len, PROT_READ));
	ASSERT_EQ(0, mprotect(p, len, PROT_READ | PROT_WRITE));
	/* ...and the device faults its own pages back in, without moving them. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(1UL, cmd.faults);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 31));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_SNAPSHOT, p, m, n, NULL));
	for (i = 0; i < n; i++)
		EXPECT_EQ(local_prot(variant), m[i] & 0xf0);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 31));
	free(m);
}

TEST_F(mem, second_migration_keeps_pages_where_they_are)
{
	struct hmm_mock_stats st0, st1;
	struct hmm_dmirror_cmd cmd;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(16, 19);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 19));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use + n, st1.pages_in_use);
}

TEST_F(mem, untouched_range_migrates_as_zeroed_pages)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i;

	SKIP_IF_SETUP_SKIPPED();
	MAP_RANGE(8);
	memset(buf, 0x55, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->fd, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	for (i = 0; i < len; i++) {
		ASSERT_EQ(0, buf[i]);
		ASSERT_EQ(0, p[i]);
	}
}

TEST_F(mem, range_with_hole_is_einval_and_moves_nothing)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(3, 47);
	ASSERT_EQ(0, munmap(p + self->page, self->page));
	st0 = hmm_mock_stats(self->fd);
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 3, NULL));
	EXPECT_EQ(-EINVAL, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, 3, NULL));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(st0.pages_in_use, st1.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, p, 1, HMM_DMIRROR_PROT_WRITE);
	EXPECT_SNAPSHOT(self->fd, p + 2 * self->page, 1, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, self->page, 47));
}

TEST_F(mem, repeated_round_trips_keep_data)
{
	struct hmm_dmirror_cmd cmd;
	size_t i;
	int round;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(32, 0);
	for (round = 1; round <= 8; round++) {
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
		ASSERT_EQ(n, cmd.cpages);
		for (i = 0; i < len / sizeof(int); i++)
			((int *)p)[i]++;
		ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, NULL));
		ASSERT_EQ(-1, hmm_mock_check(p, len, round)) TH_LOG("round %d", round);
	}
}

TEST_F(mem, pages_move_between_devices_through_system_memory)
{
	struct hmm_dmirror_cmd cmd;
	unsigned char remote = variant->coherent ?
		HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE | HMM_DMIRROR_PROT_WRITE :
		HMM_DMIRROR_PROT_NONE;	/* another device's private memory is invisible */

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(8, 73);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* The other device reads it wherever it is. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_READ, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 73));

	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, &cmd));
	EXPECT_EQ(n, cmd.cpages);
	EXPECT_SNAPSHOT(self->peer, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_SNAPSHOT(self->fd, p, n, remote);

	/* Reading through the first device again finds the same data. */
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 73));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 73));
}

TEST_F(mem, migrate_refuses_pages_of_the_other_device)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(4, 79);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_EQ(-ENOENT, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	EXPECT_SNAPSHOT(self->peer, p, n, local_prot(variant) | HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 79));
}

TEST_F(mem, device_write_to_page_on_other_device_lands_in_cpu_memory)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(8, 151);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	/* Private pages come back from the other device; coherent ones are written in place. */
	hmm_mock_fill(buf, len, 157);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_WRITE, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(p, len, 157));
	memset(buf, 0, len);
	ASSERT_EQ(0, hmm_mock_cmd(self->peer, HMM_DMIRROR_READ, p, buf, n, NULL));
	EXPECT_EQ(-1, hmm_mock_check(buf, len, 157));
}

/* One of two threads migrating halves of one THP at once. */
struct thp_half {
	int fd;
	char *p;		/* the half's first page */
	char *buf;
	unsigned long n;	/* its pages */
	pthread_barrier_t *start;
	int err;		/* the migration's result: -ENOENT if it left pages */
};

static void *migrate_thp_half(void *arg)
{
	struct thp_half *h = arg;

	pthread_barrier_wait(h->start);
	h->err = hmm_mock_cmd(h->fd, HMM_DMIRROR_MIGRATE_TO_DEV, h->p, h->buf, h->n, NULL);
	return NULL;
}

/* Whether frame @pfn is still a THP that nothing maps: a reference leaked. */
static bool thp_left_unmapped(uint64_t pfn)
{
	int64_t flags = hmm_mock_kpage("/proc/kpageflags", pfn);
	const int64_t thp = KPF_ANON | KPF_COMPOUND_HEAD | KPF_THP;

	return flags >= 0 && (flags & thp) == thp && !hmm_mock_kpage("/proc/kpagecount", pfn);
}

#define RACE_ROUNDS	64

/*
 * Catalogue H1: two threads migrate the two halves of one PMD-mapped THP
 * at once, RACE_ROUNDS times. Collecting a PMD-mapped THP, the kernel
 * takes a reference, then tries the folio's lock; before 6.19 the thread
 * that lost the lock to the other returned without putting the reference.
 * The THP then outlives its munmap(): its head frame stays an anonymous
 * THP that nothing maps, no migration or memory offlining can move it, and
 * it is never freed. HMM_MOCK_EXPECT_THP_COLLECT_RACE declares the
 * kernel's answer: "leaks" (some round leaks the THP; the test stops at
 * the first, 2 MiB lost until reboot) or "frees" (no round does).
 */
TEST_F(mem, two_migrations_racing_for_one_thp_behave_as_the_lane_declares)
{
	const char *expect = getenv("HMM_MOCK_EXPECT_THP_COLLECT_RACE");
	struct thp_half half[2];
	pthread_barrier_t start;
	pthread_t thread[2];
	int round, lost = 0, i;
	bool leaked = false;
	uint64_t pm;
	char *p;

	SKIP_IF_SETUP_SKIPPED();
	DEVICE_BUF(TWO_MB / self->page);
	if (!expect)
		SKIP(return, "HMM_MOCK_EXPECT_THP_COLLECT_RACE is not declared for this kernel");
	ASSERT_TRUE(!strcmp(expect, "leaks") || !strcmp(expect, "frees"))
		TH_LOG("HMM_MOCK_EXPECT_THP_COLLECT_RACE=%s: leaks or frees", expect);
	for (round = 0; round < RACE_ROUNDS && !leaked; round++) {
		p = map_thp(self->fd, round);
		ASSERT_NE(MAP_FAILED, (void *)p);
		if (!p && !round)
			SKIP(return, NO_THP);
		/* Memory too fragmented for more THPs: the rounds run are judged. */
		if (!p)
			break;
		ASSERT_EQ(0, hmm_mock_pagemap(p, 1, self->page, &pm));
		if (!round && (hmm_mock_kpage("/proc/kpageflags", pm & PM_PFN_MASK) < 0 ||
			       !(pm & PM_PFN_MASK)))
			SKIP(return, "/proc/kpageflags and page frames need root");
		ASSERT_EQ(0, pthread_barrier_init(&start, NULL, 2));
		for (i = 0; i < 2; i++) {
			half[i] = (struct thp_half){
				.fd = self->fd, .p = p + i * TWO_MB / 2, .buf = buf + i * len / 2,
				.n = n / 2, .start = &start,
			};
			ASSERT_EQ(0, pthread_create(&thread[i], NULL, migrate_thp_half, &half[i]));
		}
		for (i = 0; i < 2; i++)
			ASSERT_EQ(0, pthread_join(thread[i], NULL));
		pthread_barrier_destroy(&start);
		for (i = 0; i < 2; i++) {
			ASSERT_TRUE(!half[i].err || half[i].err == -ENOENT)
				TH_LOG("round %d: MIGRATE_TO_DEV: %s", round, strerror(-half[i].err));
			lost += !!half[i].err;
		}
		ASSERT_EQ(0, munmap(p, TWO_MB));
		leaked = thp_left_unmapped(pm & PM_PFN_MASK);
	}
	TH_LOG("%d rounds; %d migrations left pages behind; %s", round, lost,
	       leaked ? "the last round leaked it" : "none leaked it");
	EXPECT_EQ(!strcmp(expect, "leaks"), leaked);
	/* Without a lost race the test shows nothing either way. */
	EXPECT_LT(0, lost);
}

TEST_HARNESS_MAIN
