/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hmm-mock test programs. Include after
 * kselftest_harness.h.
 */
#ifndef _HMM_MOCK_TEST_H
#define _HMM_MOCK_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uapi/hmm_mock.h>

/* Device ids of the two kinds of memory. */
#define HMM_MOCK_PRIVATE0	0
#define HMM_MOCK_PRIVATE1	1
#define HMM_MOCK_COHERENT0	2
#define HMM_MOCK_COHERENT1	3

static inline void hmm_mock_node(char *buf, size_t len, int id)
{
	snprintf(buf, len, "/dev/hmm_dmirror%d", id);
}

/*
 * Opens device @id. Returns the fd, or -1 with @why set when the device is
 * absent for a reason the module logs (no memory of that kind on this
 * kernel or machine); any other failure is returned as -errno in @err.
 */
static inline int hmm_mock_open(int id, const char **why, int *err)
{
	char node[32];
	int fd;

	*why = NULL;
	*err = 0;
	hmm_mock_node(node, sizeof(node), id);
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	*err = -errno;
	if (errno != ENOENT)
		return -1;
	if (access("/sys/module/hmm_mock", F_OK)) {
		*why = NULL;	/* module not loaded: a failure, not a skip */
		return -1;
	}
	*why = id < HMM_MOCK_COHERENT0 ?
		"device-private node absent (kernel without CONFIG_DEVICE_PRIVATE)" :
		"device-coherent node absent (hmm_mock loaded without spm_addr_dev*)";
	return -1;
}

/* ioctl() that returns -errno instead of -1. */
static inline int hmm_mock_ioctl(int fd, unsigned long op, struct hmm_dmirror_cmd *cmd)
{
	return ioctl(fd, op, cmd) ? -errno : 0;
}

/*
 * Runs HMM_DMIRROR_* command @op over @npages pages at @addr with user
 * buffer @ptr. Returns 0 or -errno; *@out (if given) receives the command
 * as the driver returned it.
 */
static inline int hmm_mock_cmd(int fd, unsigned long op, void *addr, void *ptr,
			       unsigned long npages, struct hmm_dmirror_cmd *out)
{
	struct hmm_dmirror_cmd cmd = {
		.addr = (unsigned long)addr,
		.ptr = (unsigned long)ptr,
		.npages = npages,
	};
	int ret;

	do {
		ret = hmm_mock_ioctl(fd, op, &cmd);
	} while (ret == -EINTR);
	if (out)
		*out = cmd;
	return ret;
}

/* Device counters; aborts the test program on failure (a driver bug). */
static inline struct hmm_mock_stats hmm_mock_stats(int fd)
{
	struct hmm_mock_stats st;

	memset(&st, 0xff, sizeof(st));
	if (ioctl(fd, HMM_MOCK_STATS, &st))
		memset(&st, 0xff, sizeof(st));
	return st;
}

/* Writes the pattern seed, seed + 1, ... as ints over @len bytes. */
static inline void hmm_mock_fill(void *p, size_t len, int seed)
{
	int *v = p;
	size_t i;

	for (i = 0; i < len / sizeof(int); i++)
		v[i] = seed + (int)i;
}

/* Index of the first int that breaks the pattern, or -1. */
static inline long hmm_mock_check(const void *p, size_t len, int seed)
{
	const int *v = p;
	size_t i;

	for (i = 0; i < len / sizeof(int); i++)
		if (v[i] != seed + (int)i)
			return (long)i;
	return -1;
}

#endif /* _HMM_MOCK_TEST_H */
