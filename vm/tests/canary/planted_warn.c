// SPDX-License-Identifier: GPL-2.0
/*
 * Canary for the VM verdict: the first test plants a real kernel WARNING
 * (through lkdtm) and passes as far as the harness can tell; the verdict
 * must still fail it, and only it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

TEST(kernel_warning_fails_this_test)
{
	const char *cmd = "WARNING";
	int fd;

	ASSERT_EQ(0, system("modprobe lkdtm"));
	fd = open("/sys/kernel/debug/provoke-crash/DIRECT", O_WRONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ((ssize_t)strlen(cmd), write(fd, cmd, strlen(cmd)));
	close(fd);
}

TEST(next_test_is_not_blamed)
{
	int fd = open("/dev/hmm_dmirror0", O_RDWR);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, close(fd));
}

TEST_HARNESS_MAIN
