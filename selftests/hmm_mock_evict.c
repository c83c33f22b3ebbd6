// SPDX-License-Identifier: GPL-2.0
/*
 * Device pages leaving device memory without a migration request: long-term
 * and short-term GUP (through the kernel's gup_test), HMM_DMIRROR_RELEASE,
 * and closing the last file of the device. The data always survives.
 * Fixture mem (hmm_mock_mem.h): every test runs on device-private and on
 * device-coherent memory.
 */
#include <stdlib.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"
#include "hmm_mock_mem.h"

TEST_F(mem, longterm_pin_moves_device_pages_to_system_memory)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(4, 109);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	GUP_OR_SKIP(PIN_LONGTERM_BENCHMARK, GUP_FOLL_WRITE, p, len);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 109));
}

TEST_F(mem, short_term_gup_keeps_only_coherent_pages_on_device)
{
	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(4, 113);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	GUP_OR_SKIP(GUP_BASIC_TEST, GUP_FOLL_WRITE, p, len);
	/* Private memory is not CPU addressable: GUP faults it back. */
	EXPECT_SNAPSHOT(self->fd, p, n, variant->coherent ?
			local_prot(variant) | HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 113));
}

TEST_F(mem, release_evicts_every_device_page_and_keeps_data)
{
	struct hmm_mock_stats st0, st1;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(64, 127);
	st0 = hmm_mock_stats(self->fd);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_RELEASE, p, buf, n, NULL));
	st1 = hmm_mock_stats(self->fd);
	EXPECT_EQ(0UL, st1.pages_in_use);
	EXPECT_EQ(st1.pages_total, st1.pages_free);
	EXPECT_LE(st0.evicted + n, st1.evicted);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 127));
}

TEST_F(mem, closing_last_file_evicts_device_memory_and_keeps_data)
{
	struct hmm_mock_stats st;
	const char *why;
	int err;

	SKIP_IF_SETUP_SKIPPED();
	MAP_FILLED(64, 131);
	ASSERT_EQ(0, hmm_mock_cmd(self->fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, n, NULL));
	ASSERT_EQ(0, close(self->fd));
	/* Not HMM_MOCK_OPEN_OR_SKIP(): the node was open a moment ago. */
	self->fd = hmm_mock_open(variant->id, &why, &err);
	ASSERT_GE(self->fd, 0) TH_LOG("reopen hmm_dmirror%d: %s", variant->id, strerror(-err));
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(0UL, st.pages_in_use);
	EXPECT_SNAPSHOT(self->fd, p, n, HMM_DMIRROR_PROT_WRITE);
	EXPECT_EQ(-1, hmm_mock_check(p, len, 131));
}

TEST_HARNESS_MAIN
