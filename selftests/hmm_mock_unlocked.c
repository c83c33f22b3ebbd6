// SPDX-License-Identifier: GPL-2.0
/*
 * HMM_DMIRROR_READ_UNLOCKED: a device read whose faults may drop mmap_lock,
 * so that a userfaultfd handler can serve pages a plain READ cannot fault.
 * Kernels without the unlocked hmm_range_fault() refuse the command with
 * -ENOTTY, and the tests that need it skip saying so.
 */
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

#define NPAGES	8U

FIXTURE(unlocked) {
	int fd;
	int uffd;
	size_t page;
	void *p;
	void *buf;
	pthread_t handler;
	bool handler_running;
	unsigned int served;
	const char *skipped;	/* set when the setup skipped */
};

FIXTURE_VARIANT(unlocked) {
	int id;
};

FIXTURE_VARIANT_ADD(unlocked, private) { .id = HMM_MOCK_PRIVATE0 };
FIXTURE_VARIANT_ADD(unlocked, coherent) { .id = HMM_MOCK_COHERENT0 };

/* The page the handler puts at @addr: pattern seeded by its index. */
static int seed_of(FIXTURE_DATA(unlocked) *self, unsigned long addr)
{
	return 1000 + (int)((addr - (uintptr_t)self->p) / self->page) * 7;
}

/*
 * Serves missing-page faults of self->p with UFFDIO_COPY until closed; a
 * failed copy shows as wrong data in the test.
 */
static void *uffd_handler(void *arg)
{
	FIXTURE_DATA(unlocked) *self = arg;
	void *src = malloc(self->page);

	while (src) {
		struct pollfd pfd = { .fd = self->uffd, .events = POLLIN };
		struct uffdio_copy copy;
		struct uffd_msg msg;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (read(self->uffd, &msg, sizeof(msg)) != sizeof(msg))
			break;	/* uffd closed: the test is over */
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		/* Counted before the copy wakes the faulting thread up. */
		__atomic_add_fetch(&self->served, 1, __ATOMIC_SEQ_CST);
		copy.dst = msg.arg.pagefault.address & ~((uint64_t)self->page - 1);
		copy.src = (uintptr_t)src;
		copy.len = self->page;
		copy.mode = 0;
		hmm_mock_fill(src, self->page, seed_of(self, copy.dst));
		ioctl(self->uffd, UFFDIO_COPY, &copy);
	}
	free(src);
	return NULL;
}

FIXTURE_SETUP(unlocked)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

	self->page = sysconf(_SC_PAGESIZE);
	self->uffd = -1;
	self->p = MAP_FAILED;
	self->buf = NULL;
	self->handler_running = false;
	HMM_MOCK_OPEN_OR_SKIP(self->fd, variant->id, self->skipped);

	self->buf = malloc(NPAGES * self->page);
	ASSERT_NE(NULL, self->buf);
	self->p = mmap(NULL, NPAGES * self->page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	self->uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	ASSERT_GE(self->uffd, 0) TH_LOG("userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_API, &api));
	reg.range.start = (uintptr_t)self->p;
	reg.range.len = NPAGES * self->page;
	ASSERT_EQ(0, ioctl(self->uffd, UFFDIO_REGISTER, &reg));
	ASSERT_EQ(0, pthread_create(&self->handler, NULL, uffd_handler, self));
	self->handler_running = true;
}

FIXTURE_TEARDOWN(unlocked)
{
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->handler_running)
		pthread_join(self->handler, NULL);
	if (self->p != MAP_FAILED)
		munmap(self->p, NPAGES * self->page);
	free(self->buf);
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(unlocked, read_unlocked_is_served_by_userfaultfd)
{
	struct hmm_dmirror_cmd cmd;
	unsigned long i;
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	ret = hmm_mock_cmd(self->fd, HMM_DMIRROR_READ_UNLOCKED, self->p, self->buf, NPAGES, &cmd);
	if (ret == -ENOTTY)
		SKIP(return, "kernel without unlocked hmm_range_fault: READ_UNLOCKED is -ENOTTY");
	ASSERT_EQ(0, ret);
	EXPECT_EQ(NPAGES, cmd.cpages);
	EXPECT_EQ(NPAGES, __atomic_load_n(&self->served, __ATOMIC_SEQ_CST));
	for (i = 0; i < NPAGES; i++) {
		unsigned long addr = (uintptr_t)self->p + i * self->page;

		EXPECT_EQ(-1, hmm_mock_check((char *)self->buf + i * self->page, self->page,
					     seed_of(self, addr))) TH_LOG("page %lu", i);
	}
}

TEST_F(unlocked, read_unlocked_rejects_unaligned_range)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (uintptr_t)self->p + 8,
		.ptr = (uintptr_t)self->buf,
		.npages = NPAGES,
	};
	int ret;

	SKIP_IF_SETUP_SKIPPED();
	ret = hmm_mock_ioctl(self->fd, HMM_DMIRROR_READ_UNLOCKED, &cmd);
	if (ret == -ENOTTY)
		SKIP(return, "kernel without unlocked hmm_range_fault: READ_UNLOCKED is -ENOTTY");
	EXPECT_EQ(-EINVAL, ret);
	EXPECT_EQ(0U, __atomic_load_n(&self->served, __ATOMIC_SEQ_CST));
}

TEST_HARNESS_MAIN
