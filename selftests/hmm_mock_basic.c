// SPDX-License-Identifier: GPL-2.0
/*
 * Device nodes and ioctl input checking: every node opens and closes, and
 * the driver rejects requests it cannot honour with a precise errno before
 * touching anything.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

#define SENTINEL 0x5a5a5a5a5a5a5a5aULL

FIXTURE(node) {
	int fd;
	void *buf;
	size_t page;
	const char *skipped;	/* set when the setup skipped */
};

FIXTURE_VARIANT(node) {
	int id;
};

FIXTURE_VARIANT_ADD(node, private0) { .id = HMM_MOCK_PRIVATE0 };
FIXTURE_VARIANT_ADD(node, private1) { .id = HMM_MOCK_PRIVATE1 };
FIXTURE_VARIANT_ADD(node, coherent0) { .id = HMM_MOCK_COHERENT0 };
FIXTURE_VARIANT_ADD(node, coherent1) { .id = HMM_MOCK_COHERENT1 };

FIXTURE_SETUP(node)
{
	self->page = sysconf(_SC_PAGESIZE);
	self->buf = MAP_FAILED;
	HMM_MOCK_OPEN_OR_SKIP(self->fd, variant->id, self->skipped);

	self->buf = mmap(NULL, 4 * self->page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->buf, MAP_FAILED);
}

FIXTURE_TEARDOWN(node)
{
	if (self->buf != MAP_FAILED)
		munmap(self->buf, 4 * self->page);
	if (self->fd >= 0)
		close(self->fd);
}

/* A well-formed command over the fixture's buffer, outputs set to SENTINEL. */
static struct hmm_dmirror_cmd valid_cmd(FIXTURE_DATA(node) *self)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)self->buf,
		.ptr = (uintptr_t)self->buf,
		.npages = 1,
		.cpages = SENTINEL,
		.faults = SENTINEL,
	};
	return cmd;
}

/* The command failed with @err and the driver wrote nothing back. */
#define EXPECT_REJECTED(op, cmd, err) do {					\
	struct hmm_dmirror_cmd before = (cmd);					\
	EXPECT_EQ(err, hmm_mock_ioctl(self->fd, op, &(cmd)));			\
	EXPECT_EQ(0, memcmp(&before, &(cmd), sizeof(cmd)));			\
} while (0)

TEST_F(node, open_close_repeatedly)
{
	char node[32];
	struct stat st;
	int i, fd;

	SKIP_IF_SETUP_SKIPPED();
	hmm_mock_node(node, sizeof(node), variant->id);
	ASSERT_EQ(0, stat(node, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	for (i = 0; i < 64; i++) {
		fd = open(node, O_RDWR);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, close(fd));
	}
}

TEST_F(node, unknown_command_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	EXPECT_REJECTED(_IOWR('H', 0x3f, struct hmm_dmirror_cmd), cmd, -ENOTTY);
	EXPECT_REJECTED(_IOWR(HMM_MOCK_IOC_TYPE, 0xff, struct hmm_dmirror_cmd), cmd, -ENOTTY);
	EXPECT_REJECTED(_IO('H', 0x00), cmd, -ENOTTY);
}

TEST_F(node, command_with_wrong_size_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	/* Right type and number, but an argument size the ABI never had. */
	EXPECT_REJECTED(_IOWR('H', 0x00, uint32_t), cmd, -ENOTTY);
	EXPECT_REJECTED(_IOR('H', 0x02, struct hmm_dmirror_cmd), cmd, -ENOTTY);
}

TEST_F(node, unaligned_address_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	cmd.addr += 8;
	EXPECT_REJECTED(HMM_DMIRROR_READ, cmd, -EINVAL);
	EXPECT_REJECTED(HMM_DMIRROR_MIGRATE_TO_DEV, cmd, -EINVAL);
	EXPECT_REJECTED(HMM_DMIRROR_SNAPSHOT, cmd, -EINVAL);
}

TEST_F(node, zero_pages_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	cmd.npages = 0;
	EXPECT_REJECTED(HMM_DMIRROR_WRITE, cmd, -EINVAL);
	EXPECT_REJECTED(HMM_DMIRROR_MIGRATE_TO_SYS, cmd, -EINVAL);
	EXPECT_REJECTED(HMM_DMIRROR_EXCLUSIVE, cmd, -EINVAL);
}

TEST_F(node, wrapping_or_oversized_range_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	/* addr + npages * page wraps around zero. */
	cmd.npages = UINT64_MAX / self->page;
	EXPECT_REJECTED(HMM_DMIRROR_MIGRATE_TO_DEV, cmd, -EINVAL);

	/* Ends beyond the user address space without wrapping. */
	cmd.npages = (1ULL << 52) / self->page;
	EXPECT_REJECTED(HMM_DMIRROR_SNAPSHOT, cmd, -EINVAL);

	/* Starts beyond the user address space. */
	cmd = valid_cmd(self);
	cmd.addr = UINT64_MAX & ~((uint64_t)self->page - 1);
	EXPECT_REJECTED(HMM_DMIRROR_CHECK_EXCLUSIVE, cmd, -EINVAL);
}

TEST_F(node, bad_command_pointer_rejected)
{
	SKIP_IF_SETUP_SKIPPED();
	EXPECT_EQ(-EFAULT, hmm_mock_ioctl(self->fd, HMM_DMIRROR_READ, NULL));
	EXPECT_EQ(-EFAULT, hmm_mock_ioctl(self->fd, HMM_DMIRROR_RELEASE,
					  (struct hmm_dmirror_cmd *)(uintptr_t)8));
}

TEST_F(node, kernel_buffer_pointer_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	cmd.ptr = 0xffff888000000000ULL;	/* x86-64 direct map */
	EXPECT_REJECTED(HMM_DMIRROR_READ, cmd, -EFAULT);
	EXPECT_REJECTED(HMM_DMIRROR_WRITE, cmd, -EFAULT);
	EXPECT_REJECTED(HMM_DMIRROR_SNAPSHOT, cmd, -EFAULT);
}

TEST_F(node, unknown_flags_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);

	SKIP_IF_SETUP_SKIPPED();
	cmd.npages = HMM_DMIRROR_FLAG_FAIL_ALLOC << 1;
	EXPECT_REJECTED(HMM_DMIRROR_FLAGS, cmd, -EINVAL);
}

TEST_F(node, use_from_other_process_rejected)
{
	struct hmm_dmirror_cmd cmd = valid_cmd(self);
	pid_t pid;

	SKIP_IF_SETUP_SKIPPED();
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* The child inherited the fd, not the right to use it. */
		struct hmm_dmirror_cmd before = cmd;
		int ret = hmm_mock_ioctl(self->fd, HMM_DMIRROR_SNAPSHOT, &cmd);

		_exit(ret == -EPERM && !memcmp(&before, &cmd, sizeof(cmd)) ? 0 : 1);
	}
	EXPECT_CHILD_OK(pid);
}

TEST_F(node, stats_balance_and_work_from_any_process)
{
	struct hmm_mock_stats st;
	pid_t pid;

	SKIP_IF_SETUP_SKIPPED();
	st = hmm_mock_stats(self->fd);
	EXPECT_EQ(st.pages_total, st.pages_free + st.pages_in_use);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		/* Device-wide counters do not touch the opener's memory. */
		struct hmm_mock_stats child;

		_exit(ioctl(self->fd, HMM_MOCK_STATS, &child) ? 1 :
		      child.pages_total != child.pages_free + child.pages_in_use);
	}
	EXPECT_CHILD_OK(pid);
}

TEST_F(node, stats_to_bad_pointer_rejected)
{
	SKIP_IF_SETUP_SKIPPED();
	EXPECT_EQ(-1, ioctl(self->fd, HMM_MOCK_STATS, NULL));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, HMM_MOCK_STATS, (void *)0xffff888000000000ULL));
	EXPECT_EQ(EFAULT, errno);
}

TEST_HARNESS_MAIN
