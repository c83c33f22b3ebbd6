/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hmm-mock user ABI.
 *
 * The device nodes /dev/hmm_dmirror0..3 speak the ioctl ABI of the kernel's
 * lib/test_hmm_uapi.h as of Linux 7.3, byte for byte, so upstream's
 * tools/testing/selftests/mm/hmm-tests runs unmodified against hmm-mock.
 * Commands that hmm-mock adds on top use their own ioctl type byte, which
 * upstream's test_hmm (type 'H') can never collide with.
 */
#ifndef _UAPI_HMM_MOCK_H
#define _UAPI_HMM_MOCK_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

/**
 * struct hmm_dmirror_cmd - argument of every HMM_DMIRROR_* command
 * @addr:	start of the range in the caller's address space, page aligned
 * @ptr:	user buffer: source or destination of READ/WRITE/SNAPSHOT
 * @npages:	number of pages in the range (HMM_DMIRROR_FLAGS: the flags)
 * @cpages:	out: number of pages the command completed
 * @faults:	out: number of device faults the command took
 */
struct hmm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_FLAGS		_IOWR('H', 0x08, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_READ_UNLOCKED	_IOWR('H', 0x09, struct hmm_dmirror_cmd)

/*
 * hmm-mock specifics within that ABI:
 * - MIGRATE_TO_DEV moves what it can and then reports the range as the
 *   device sees it: -ENOENT when some page is not in this device's memory
 *   (shared or file pages, pages of another device, device memory
 *   exhausted); a range that is not wholly mapped readable, or that covers
 *   hugetlb or special mappings, is -EINVAL and moves nothing.
 * - RELEASE evicts all of the device's memory, whoever maps it; -EBUSY if
 *   some page stayed busy throughout.
 * - FLAG_FAIL_ALLOC makes the next device memory allocation of this file
 *   fail, so that one migration batch stays in system memory.
 * - READ_UNLOCKED is -ENOTTY on kernels without an hmm_range_fault() that
 *   may drop mmap_lock.
 */

/* HMM_DMIRROR_FLAGS bits, passed in @npages. */
#define HMM_DMIRROR_FLAG_FAIL_ALLOC	_BITULL(0)

/*
 * HMM_DMIRROR_SNAPSHOT writes one byte per page into @ptr:
 * HMM_DMIRROR_PROT_ERROR, or HMM_DMIRROR_PROT_NONE/READ/WRITE ORed with
 * the mapping size bits and at most one of the zero-page or device values.
 */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

/* Kind of device memory behind a device node. */
enum {
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE	= 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT	= 2,
};

/* Type byte of hmm-mock's own commands. */
#define HMM_MOCK_IOC_TYPE	0xE7

/**
 * struct hmm_mock_stats - device memory accounting, for invariant checks
 * @chunks:	device memory chunks currently created
 * @pages_total: device pages in those chunks
 * @pages_free:	device pages on the free list (reference count zero)
 * @pages_in_use: device pages handed out and not yet freed
 * @page_frees:	times the kernel handed a device page back (page_free)
 * @cpu_faults:	CPU faults that moved a device-private page to system memory
 * @evicted:	device pages moved to system memory by eviction
 *		(HMM_DMIRROR_RELEASE, last close, module unload)
 * @large_folio_pages: pages in each large device folio the device hands
 *		out (512 with 4 KiB pages), 0 when it hands out single pages
 *		only (kernel without large device-private folios, or
 *		device-coherent memory)
 * @large_allocs: large device folios handed out
 * @large_free:	PMD-aligned runs of free pages kept for large folios (their
 *		pages are counted in @pages_free too)
 * @folio_splits: large device folios the kernel split while in use
 *
 * Counts are for the whole device, across all open files. At any quiet
 * moment @pages_free + @pages_in_use == @pages_total.
 */
struct hmm_mock_stats {
	__u64 chunks;
	__u64 pages_total;
	__u64 pages_free;
	__u64 pages_in_use;
	__u64 page_frees;
	__u64 cpu_faults;
	__u64 evicted;
	__u64 large_folio_pages;
	__u64 large_allocs;
	__u64 large_free;
	__u64 folio_splits;
};

/*
 * HMM_MOCK_STATS fills struct hmm_mock_stats. It reads device-wide counters
 * only, so unlike the HMM_DMIRROR_* commands it works from any process that
 * holds the file. The structure only grows at its end; the driver fills as
 * much of it as the caller's command number says it has.
 */
#define HMM_MOCK_STATS		_IOR(HMM_MOCK_IOC_TYPE, 0x00, struct hmm_mock_stats)

#endif /* _UAPI_HMM_MOCK_H */
