// SPDX-License-Identifier: GPL-2.0
/*
 * Teardown: unloading the module while processes still map device memory
 * moves that memory back to system memory first, so their data survives.
 * Runs where the module file is known (HMM_MOCK_KO, which hmm_mock.sh sets;
 * the test VM's /hmm/hmm_mock.ko), so it can be loaded again afterwards with
 * the same parameters. Unloading also gives the device's memory back to
 * the kernel, load after load.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <time.h>

#include "kselftest_harness.h"
#include "hmm_mock_test.h"

#define MODULE_FILE	(getenv("HMM_MOCK_KO") ?: "/hmm/hmm_mock.ko")
#define PARAMS		"/sys/module/hmm_mock/parameters/"

static const char *const params[] = {
	"spm_addr_dev0", "spm_addr_dev1", "spm_size", "devmem_max_mb",
};

/* "name=value ..." of the loaded module's parameters. */
static int module_args(char *buf, size_t len)
{
	size_t used = 0;
	unsigned int i;

	buf[0] = 0;
	for (i = 0; i < ARRAY_SIZE(params); i++) {
		char path[128], val[64];
		FILE *f;

		snprintf(path, sizeof(path), PARAMS "%s", params[i]);
		f = fopen(path, "r");
		if (!f)
			return -1;
		if (!fgets(val, sizeof(val), f)) {
			fclose(f);
			return -1;
		}
		fclose(f);
		val[strcspn(val, "\n")] = 0;
		used += snprintf(buf + used, len - used, " %s=%s", params[i], val);
		if (used >= len)
			return -1;
	}
	return 0;
}

struct placed {
	int *p;
	size_t len;
	int seed;
};

/* Maps memory, migrates it to device @id and closes the device again. */
static int place_on_device(int id, size_t len, int seed, struct placed *out)
{
	struct hmm_dmirror_cmd cmd;
	const char *why;
	void *buf;
	int fd, err, ret;

	out->p = NULL;
	fd = hmm_mock_open(id, &why, &err);
	if (fd < 0)
		return why ? 1 : -1;
	out->p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf = malloc(len);
	if (out->p == MAP_FAILED || !buf) {
		close(fd);
		return -1;
	}
	madvise(out->p, len, MADV_NOHUGEPAGE);
	out->len = len;
	out->seed = seed;
	hmm_mock_fill(out->p, len, seed);
	ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, out->p, buf,
			   len / sysconf(_SC_PAGESIZE), &cmd);
	free(buf);
	close(fd);
	return ret || cmd.cpages != len / sysconf(_SC_PAGESIZE) ? -1 : 0;
}

/*
 * Device memory can outlive the files it was placed with (the last close
 * evicts it, but a fork child or another mapping may still hold a page):
 * here the pages are placed, the files closed, and the module removed.
 */
TEST(rmmod_with_live_mappings_keeps_data)
{
	char args[512], cmdline[700];
	struct placed priv, coh;
	size_t len = 64 * sysconf(_SC_PAGESIZE);
	int private, coherent;

	if (access(MODULE_FILE, R_OK))
		SKIP(return, "module file %s absent (HMM_MOCK_KO)", MODULE_FILE);
	ASSERT_EQ(0, module_args(args, sizeof(args)));

	/* Each kind of memory the kernel and machine offer (1: absent). */
	private = place_on_device(HMM_MOCK_PRIVATE0, len, 211, &priv);
	coherent = place_on_device(HMM_MOCK_COHERENT0, len, 223, &coh);
	ASSERT_LE(0, private);
	ASSERT_LE(0, coherent);
	ASSERT_TRUE(!private || !coherent) TH_LOG("no device memory at all");

	ASSERT_EQ(0, system("rmmod hmm_mock"));
	EXPECT_NE(0, access("/sys/module/hmm_mock", F_OK));
	if (!private)
		EXPECT_EQ(-1, hmm_mock_check(priv.p, priv.len, priv.seed));
	if (!coherent)
		EXPECT_EQ(-1, hmm_mock_check(coh.p, coh.len, coh.seed));

	snprintf(cmdline, sizeof(cmdline), "insmod %s%s", MODULE_FILE, args);
	ASSERT_EQ(0, system(cmdline)) TH_LOG("%s", cmdline);
	EXPECT_EQ(0, access("/sys/module/hmm_mock", F_OK));
}

/* A fork child keeps device pages mapped after the parent closed the node. */
TEST(rmmod_after_close_with_child_mapping_keeps_child_data)
{
	char args[512], cmdline[700];
	struct placed priv;
	size_t len = 16 * sysconf(_SC_PAGESIZE);
	int go, ret;
	pid_t pid;

	if (access(MODULE_FILE, R_OK))
		SKIP(return, "module file %s absent (HMM_MOCK_KO)", MODULE_FILE);
	ASSERT_EQ(0, module_args(args, sizeof(args)));
	/* Device-private memory where the kernel has it, else coherent. */
	ret = place_on_device(HMM_MOCK_PRIVATE0, len, 227, &priv);
	if (ret > 0)
		ret = place_on_device(HMM_MOCK_COHERENT0, len, 227, &priv);
	ASSERT_EQ(0, ret);

	/* The child checks its data after the parent unloaded the module. */
	pid = hmm_mock_fork_checker(priv.p, priv.len, priv.seed, &go);
	ASSERT_GE(pid, 0);
	ASSERT_EQ(0, munmap(priv.p, priv.len));	/* only the child maps it now */
	EXPECT_EQ(0, system("rmmod hmm_mock"));
	/* No assertion may stop the test before the module is back. */
	EXPECT_EQ(0, hmm_mock_go(go));
	EXPECT_CHILD_OK(pid);

	snprintf(cmdline, sizeof(cmdline), "insmod %s%s", MODULE_FILE, args);
	ASSERT_EQ(0, system(cmdline)) TH_LOG("%s", cmdline);
}

/* rmmod, retried while the module is in use, for at most @seconds. */
static int unload_within(int seconds)
{
	time_t end = time(NULL) + seconds;
	int ret;

	while ((ret = syscall(__NR_delete_module, "hmm_mock", O_NONBLOCK)) &&
	       errno == EWOULDBLOCK && time(NULL) < end)
		usleep(100 * 1000);
	return ret ? -errno : 0;
}

/*
 * A device page user space holds (here spliced into a pipe) cannot be
 * evicted at the last close, and unload could not free it: the module
 * stays in use and rmmod fails cleanly, with no WARN and no wait. Once
 * the page is let go, eviction moves it back with its data and the
 * module can go.
 */
TEST(rmmod_while_a_device_page_is_held_fails_until_it_is_let_go)
{
	size_t page = sysconf(_SC_PAGESIZE);
	char args[512], cmdline[700];
	struct hmm_dmirror_cmd cmd;
	int fd, err, pipefd[2];
	struct iovec iov;
	const char *why;
	void *buf;
	int *p;

	if (access(MODULE_FILE, R_OK))
		SKIP(return, "module file %s absent (HMM_MOCK_KO)", MODULE_FILE);
	ASSERT_EQ(0, module_args(args, sizeof(args)));
	/* Device-private pages cannot be spliced: coherent memory only. */
	fd = hmm_mock_open(HMM_MOCK_COHERENT0, &why, &err);
	if (fd < 0 && why)
		SKIP(return, "%s", why);
	ASSERT_LE(0, fd);
	p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	buf = malloc(page);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(NULL, buf);
	hmm_mock_fill(p, page, 401);
	ASSERT_EQ(0, hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, 1, &cmd));
	ASSERT_EQ(1UL, cmd.cpages);
	ASSERT_EQ(0, pipe(pipefd));
	iov.iov_base = p;
	iov.iov_len = page;
	ASSERT_EQ((ssize_t)page, vmsplice(pipefd[1], &iov, 1, 0));
	close(fd);

	EXPECT_EQ(-EWOULDBLOCK, unload_within(0));
	EXPECT_EQ(0, access("/sys/module/hmm_mock", F_OK));
	close(pipefd[0]);
	close(pipefd[1]);
	/* No assertion may stop the test before the module is back. */
	EXPECT_EQ(0, unload_within(30));
	EXPECT_EQ(-1, hmm_mock_check(p, page, 401));

	snprintf(cmdline, sizeof(cmdline), "insmod %s%s", MODULE_FILE, args);
	ASSERT_EQ(0, system(cmdline)) TH_LOG("%s", cmdline);
	free(buf);
}

/* Pages the Device zones of every node span (/proc/zoneinfo), or -1. */
static long device_zone_span(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	bool device = false;
	char line[256];
	long sum = 0, v;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Node ", 5))
			device = strstr(line, " Device") != NULL;
		else if (device && sscanf(line, " spanned %ld", &v) == 1)
			sum += v;
	}
	fclose(f);
	return sum;
}

/* Physical address ranges /proc/iomem gives to hmm-mock's devices, or -1. */
static long device_regions(void)
{
	FILE *f = fopen("/proc/iomem", "r");
	char line[256];
	long n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "hmm_dmirror") != NULL;
	fclose(f);
	return n;
}

/*
 * Unloading gives every device-private address range back (iomem) and
 * removes every chunk's memmap (memunmap_pages()), load after load. The
 * Device zone is never shrunk (since 5.5: its memmap may be uninitialised,
 * catalogue A6), so reloads must reuse its span, not grow it.
 */
TEST(load_and_unload_cycles_release_the_device_memory)
{
	char args[512], cmdline[700];
	struct placed priv, coh;
	size_t len = 64 * sysconf(_SC_PAGESIZE);
	long span = -1;
	int private, coherent, round;

	if (access(MODULE_FILE, R_OK))
		SKIP(return, "module file %s absent (HMM_MOCK_KO)", MODULE_FILE);
	ASSERT_EQ(0, module_args(args, sizeof(args)));
	snprintf(cmdline, sizeof(cmdline), "insmod %s%s", MODULE_FILE, args);

	/* No assertion may stop the test while the module is unloaded. */
	for (round = 0; round < 3; round++) {
		private = place_on_device(HMM_MOCK_PRIVATE0, len, 229 + round, &priv);
		coherent = place_on_device(HMM_MOCK_COHERENT0, len, 233 + round, &coh);
		ASSERT_LE(0, private);
		ASSERT_LE(0, coherent);
		ASSERT_TRUE(!private || !coherent) TH_LOG("no device memory at all");
		if (!private)
			ASSERT_LT(0, device_regions());
		ASSERT_EQ(0, system("rmmod hmm_mock"));
		EXPECT_EQ(0, device_regions()) TH_LOG("round %d", round);
		if (!round)
			span = device_zone_span();
		EXPECT_EQ(span, device_zone_span()) TH_LOG("round %d", round);
		EXPECT_EQ(0, system(cmdline)) TH_LOG("%s", cmdline);
		if (!private)
			EXPECT_EQ(-1, hmm_mock_check(priv.p, priv.len, priv.seed));
		if (!coherent)
			EXPECT_EQ(-1, hmm_mock_check(coh.p, coh.len, coh.seed));
		if (!private)
			munmap(priv.p, priv.len);
		if (!coherent)
			munmap(coh.p, coh.len);
	}
}

TEST_HARNESS_MAIN
