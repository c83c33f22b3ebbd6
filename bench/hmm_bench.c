// SPDX-License-Identifier: GPL-2.0
/*
 * hmm_bench: throughput of the HMM_DMIRROR_* paths, in the upstream ABI
 * only, so one binary measures test_hmm.ko and hmm_mock.ko alike.
 *
 *   hmm_bench --label NAME [--round N] [--sizes 2,64,256] [--thp]
 *             [--memory private|coherent|both] [--release 16,512]
 *
 * One measurement per path, memory kind and size (MiB), as CSV lines
 *   label,round,memory,pages,path,size_mib,value
 * where value is MiB/s, except for release and last_close: microseconds.
 * Paths: to_dev (MIGRATE_TO_DEV), to_sys (MIGRATE_TO_SYS of pages on the
 * device), fault_back (CPU reads of pages on the device; private memory
 * only, coherent memory needs no fault), read and write (device READ and
 * WRITE of pages in system memory), exclusive (EXCLUSIVE), and memcpy of
 * the same buffer (label "memcpy") as the physical reference. With
 * --release, first of all and smallest first (the device has grown by
 * nothing else yet): release and last_close, HMM_DMIRROR_RELEASE and the
 * close of the only open file with one page on a device that held each
 * size before, to show whether eviction costs what is in use or what was
 * ever added. Coherent memory only up to COHERENT_MAX_MIB. The caller
 * (vm/bench) loads the module, alternates the two and takes medians.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <uapi/hmm_mock.h>

#define MIB		(1UL << 20)
#define MAX_SIZES	16
/*
 * test_hmm.ko's coherent device is one chunk of 256 MiB; filling it warns
 * ("Conflicting mapping in same section") on every window after that.
 */
#define COHERENT_MAX_MIB	256

static const char *label = "?";
static int round_no = 1;
static bool thp;
static size_t page_size;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmd(int fd, unsigned long op, void *addr, void *ptr, size_t len)
{
	struct hmm_dmirror_cmd c = {
		.addr = (unsigned long)addr,
		.ptr = (unsigned long)ptr,
		.npages = len / page_size,
	};
	int ret;

	do
		ret = ioctl(fd, op, &c) ? -errno : 0;
	while (ret == -EINTR);
	return ret;
}

/* A range of @len bytes, backed as asked (4 KiB pages or THP) and filled. */
static char *map_filled(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 0x5a, len);
	return p;
}

static void report(const char *who, const char *memory, const char *path, size_t len,
		   double secs)
{
	printf("%s,%d,%s,%s,%s,%zu,%.1f\n", who, round_no, memory, thp ? "thp" : "4k", path,
	       len / MIB, secs > 0 ? len / MIB / secs : 0);
	fflush(stdout);
}

/* Times @op over a fresh range; @before runs untimed first (e.g. to_dev). */
static int timed(int fd, const char *memory, const char *path, size_t len, char *buf,
		 unsigned long before, unsigned long op)
{
	char *p = map_filled(len);
	double t0;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	if (before)
		ret = cmd(fd, before, p, buf, len);
	if (!ret) {
		t0 = now();
		ret = cmd(fd, op, p, buf, len);
		if (!ret)
			report(label, memory, path, len, now() - t0);
	}
	munmap(p, len);
	return ret;
}

/*
 * CPU reads of a range on the device, page by page: each fault
 * (migrate_to_ram) brings back what the module's driver chooses, a page,
 * a folio or a window of pages.
 */
static int fault_back(int fd, const char *memory, size_t len, char *buf)
{
	char *p = map_filled(len);
	volatile char sink;
	double t0;
	size_t i;
	int ret;

	if (!p)
		return -ENOMEM;
	ret = cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, len);
	if (!ret) {
		t0 = now();
		for (i = 0; i < len; i += page_size)
			sink = p[i];
		(void)sink;
		report(label, memory, "fault_back", len, now() - t0);
	}
	munmap(p, len);
	return ret;
}

static void memcpy_reference(size_t len, char *buf)
{
	char *p = map_filled(len);
	double t0;

	if (!p)
		return;
	memset(buf, 1, len);
	t0 = now();
	memcpy(buf, p, len);
	report("memcpy", "system", "memcpy", len, now() - t0);
	munmap(p, len);
}

static int bench_device(const char *node, const char *memory, size_t len, char *buf)
{
	int fd = open(node, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", node, strerror(errno));
		return -errno;
	}
	ret = timed(fd, memory, "to_dev", len, buf, 0, HMM_DMIRROR_MIGRATE_TO_DEV);
	if (!ret)
		ret = timed(fd, memory, "to_sys", len, buf, HMM_DMIRROR_MIGRATE_TO_DEV,
			    HMM_DMIRROR_MIGRATE_TO_SYS);
	if (!ret && !strcmp(memory, "private"))
		ret = fault_back(fd, memory, len, buf);
	if (!ret)
		ret = timed(fd, memory, "read", len, buf, 0, HMM_DMIRROR_READ);
	if (!ret)
		ret = timed(fd, memory, "write", len, buf, 0, HMM_DMIRROR_WRITE);
	if (!ret)
		ret = timed(fd, memory, "exclusive", len, buf, 0, HMM_DMIRROR_EXCLUSIVE);
	if (ret)
		fprintf(stderr, "%s %s %zu MiB: %s\n", label, memory, len / MIB, strerror(-ret));
	close(fd);
	return ret;
}

static void report_usecs(const char *memory, const char *path, size_t len, double secs)
{
	printf("%s,%d,%s,%s,%s,%zu,%.1f\n", label, round_no, memory, thp ? "thp" : "4k", path,
	       len / MIB, secs * 1e6);
	fflush(stdout);
}

/*
 * One page on @node's device after a range of @grow bytes went there and
 * back, so the device has grown as far as the module lets it (test_hmm's
 * RELEASE removes its chunks: each case grows the device again). Returns
 * the open file, or -errno.
 */
static int one_page_on_grown_device(const char *node, size_t grow, char *buf, char *one)
{
	int fd = open(node, O_RDWR | O_CLOEXEC), ret;
	char *p;

	if (fd < 0)
		return -errno;
	p = map_filled(grow);
	ret = p ? cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, p, buf, grow) : -ENOMEM;
	if (!ret)
		ret = cmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, p, buf, grow);
	if (ret)	/* a module that cannot hold it all holds what it can */
		fprintf(stderr, "%s: growing to %zu MiB: %s\n", label, grow / MIB, strerror(-ret));
	if (p)
		munmap(p, grow);
	ret = cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, one, buf, page_size);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * RELEASE, then the last close, each with one page on a device that first
 * held @grow bytes: whether eviction costs what is in use or what was
 * ever added.
 */
static int release_grown(const char *node, const char *memory, size_t grow, char *buf)
{
	char *one = map_filled(page_size);
	double t0;
	int fd, ret;

	if (!one)
		return -ENOMEM;
	fd = one_page_on_grown_device(node, grow, buf, one);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	t0 = now();
	ret = cmd(fd, HMM_DMIRROR_RELEASE, one, buf, page_size);
	if (!ret)
		report_usecs(memory, "release", grow, now() - t0);
	close(fd);
	if (ret)
		goto out;

	fd = one_page_on_grown_device(node, grow, buf, one);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	t0 = now();
	close(fd);
	report_usecs(memory, "last_close", grow, now() - t0);
out:
	if (ret)
		fprintf(stderr, "%s %s release at %zu MiB: %s\n", label, memory, grow / MIB,
			strerror(-ret));
	munmap(one, page_size);
	return ret;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static size_t parse_sizes(char *list, size_t *sizes)
{
	size_t n = 0;
	char *s;

	for (s = strtok(list, ","); s && n < MAX_SIZES; s = strtok(NULL, ","))
		sizes[n++] = strtoul(s, NULL, 0);
	return n;
}

int main(int argc, char **argv)
{
	size_t sizes[MAX_SIZES] = { 2, 64, 256 }, nsizes = 3, i, max = 0;
	size_t release[MAX_SIZES], nrelease = 0;
	const char *memory = "both";
	char *buf;
	int a, rc = 0;

	page_size = sysconf(_SC_PAGESIZE);
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--label") && a + 1 < argc) {
			label = argv[++a];
		} else if (!strcmp(argv[a], "--round") && a + 1 < argc) {
			round_no = atoi(argv[++a]);
		} else if (!strcmp(argv[a], "--thp")) {
			thp = true;
		} else if (!strcmp(argv[a], "--memory") && a + 1 < argc) {
			memory = argv[++a];
		} else if (!strcmp(argv[a], "--sizes") && a + 1 < argc) {
			nsizes = parse_sizes(argv[++a], sizes);
		} else if (!strcmp(argv[a], "--release") && a + 1 < argc) {
			/* Smallest first: hmm_mock keeps what it grew until unload. */
			nrelease = parse_sizes(argv[++a], release);
			qsort(release, nrelease, sizeof(*release), cmp_size);
		} else {
			fprintf(stderr, "usage: %s --label NAME [--round N] [--sizes MIB,...] [--thp] [--memory private|coherent|both] [--release MIB,...]\n",
				argv[0]);
			return 2;
		}
	}
	for (i = 0; i < nsizes; i++)
		max = sizes[i] > max ? sizes[i] : max;
	for (i = 0; i < nrelease; i++)
		max = release[i] > max ? release[i] : max;
	buf = malloc(max * MIB);
	if (!buf)
		return 1;
	for (i = 0; i < nrelease; i++) {
		if (strcmp(memory, "coherent") &&
		    release_grown("/dev/hmm_dmirror0", "private", release[i] * MIB, buf))
			rc = 1;
		if (strcmp(memory, "private") && release[i] <= COHERENT_MAX_MIB &&
		    release_grown("/dev/hmm_dmirror2", "coherent", release[i] * MIB, buf))
			rc = 1;
	}
	for (i = 0; i < nsizes; i++) {
		size_t len = sizes[i] * MIB;

		memcpy_reference(len, buf);
		if (strcmp(memory, "coherent") && bench_device("/dev/hmm_dmirror0", "private", len, buf))
			rc = 1;
		if (strcmp(memory, "private") && sizes[i] <= COHERENT_MAX_MIB &&
		    bench_device("/dev/hmm_dmirror2", "coherent", len, buf))
			rc = 1;
	}
	free(buf);
	return rc;
}
