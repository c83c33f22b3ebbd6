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
 *   fail, so that one migration window (the pages up to the next 2 MiB
 *   boundary) stays in system memory; on devices with large folios, until
 *   then it also denies a huge page to the next CPU fault on a large
 *   device folio, which then comes back split, page by page.
 * - READ, WRITE and the report of MIGRATE_TO_DEV and EXCLUSIVE copy
 *   straight between ptr and the pages, page by page in address order, as
 *   a device's DMA would: ptr may be the range itself, but a buffer that
 *   overlaps the range at another offset gets what such a copy gives.
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
 * @cpu_faults:	CPU faults that moved device-private pages to system
 *		memory, one count per fault whatever its window moved
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
 * @settle_sleeps: device accesses that slept on HMM_MOCK_INJECT's
 *		settle_delay_ms (counted as the sleep begins)
 * @fault_around_pages: the fault of a user-mode access to a device-private
 *		page brings back the device's pages in the aligned window of
 *		this many pages around it, within its VMA, and the device's
 *		mappings of that window are dropped (1: the page alone, or
 *		its whole folio when mapped by a PMD, on kernels with large
 *		device folios; 0: device-coherent memory, which the CPU
 *		reads in place). The kernel's own faults (GUP,
 *		hmm_range_fault()) bring back the page alone.
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
	__u64 settle_sleeps;
	__u64 fault_around_pages;
};

/*
 * HMM_MOCK_STATS fills struct hmm_mock_stats. It reads device-wide counters
 * only, so unlike the HMM_DMIRROR_* commands it works from any process that
 * holds the file. The structure only grows at its end; the driver fills as
 * much of it as the caller's command number says it has.
 */
#define HMM_MOCK_STATS		_IOR(HMM_MOCK_IOC_TYPE, 0x00, struct hmm_mock_stats)

/* HMM_MOCK_PAGE_INFO: hmm_mock_page_info.mem_type of system memory. */
#define HMM_MOCK_MEMORY_SYSTEM		0

/* hmm_mock_page_info.flags */
#define HMM_MOCK_PAGE_PRESENT		_BITUL(0)  /* a page backs the address */
#define HMM_MOCK_PAGE_CPU_WRITE		_BITUL(1)  /* the CPU may write it */
#define HMM_MOCK_PAGE_ANON		_BITUL(2)  /* folio_test_anon() */
#define HMM_MOCK_PAGE_ANON_EXCLUSIVE	_BITUL(3)  /* PageAnonExclusive() */
#define HMM_MOCK_PAGE_LOCKED		_BITUL(4)  /* folio lock held */
#define HMM_MOCK_PAGE_ON_FREE_LIST	_BITUL(5)  /* on hmm-mock's free list */
#define HMM_MOCK_PAGE_DEVICE_MAPPED	_BITUL(6)  /* in this file's device page table */
#define HMM_MOCK_PAGE_DEVICE_WRITE	_BITUL(7)  /* ... writable there */
#define HMM_MOCK_PAGE_DEVICE_EXCLUSIVE	_BITUL(8)  /* ... held exclusively (CPU access revoked) */
#define HMM_MOCK_PAGE_ZERO		_BITUL(9)  /* the shared zero page */

/**
 * struct hmm_mock_page_info - one page as the kernel sees it, for reproducers
 * @pfn:	page frame number, 0 when no page was found
 * @refcount:	folio_ref_count() of its folio
 * @mapcount:	folio_mapcount() of its folio (page_mapcount() of the page
 *		on kernels that do not export folio_mapcount(), before 6.10)
 * @order:	folio_order() of its folio
 * @flags:	HMM_MOCK_PAGE_*
 * @mem_type:	HMM_MOCK_MEMORY_SYSTEM or HMM_DMIRROR_MEMORY_DEVICE_*
 * @device:	number of the hmm-mock device owning the page, -1 if none
 *
 * Found through the CPU page table as this file's device sees it
 * (hmm_range_fault() without faulting) and, for pages the device holds
 * exclusively, through its own page table. Nothing is faulted or moved;
 * an address with no page there (not populated, swapped out, or in
 * another device's private memory) reads as all zeroes with @device -1.
 * Counts are read under the device page table's lock, while the page is
 * known to stay mapped, and are one moment's values.
 */
struct hmm_mock_page_info {
	__u64 pfn;
	__s32 refcount;
	__s32 mapcount;
	__u32 order;
	__u32 flags;
	__u32 mem_type;
	__s32 device;
};

/**
 * struct hmm_mock_page_info_cmd - argument of HMM_MOCK_PAGE_INFO
 * @addr:	first address, page aligned, in the caller's address space
 * @npages:	pages to describe, at least 1
 * @ptr:	user array of @npages entries of @entry_size bytes
 * @entry_size:	sizeof(struct hmm_mock_page_info) as the caller knows it:
 *		the driver fills that much of each entry and zeroes nothing
 *		beyond; at least the size of the first version (32), at
 *		most the page size
 * @pad:	must be 0
 * @cpages:	out: entries written
 */
struct hmm_mock_page_info_cmd {
	__u64 addr;
	__u64 npages;
	__u64 ptr;
	__u32 entry_size;
	__u32 pad;
	__u64 cpages;
};

/**
 * struct hmm_mock_inject - fault injection and race widening, device-wide
 * @fault_delay_ms: each user-mode CPU fault on one of the device's pages
 *		sleeps this long in migrate_to_ram before collecting the page
 *		(at most HMM_MOCK_INJECT_MAX_MS; a fatal signal cuts the sleep
 *		short); only faults of user-mode accesses sleep, never
 *		the kernel's own (GUP, hmm_range_fault(), khugepaged,
 *		copies to or from user memory)
 * @hold_lock_ms: each such fault then sleeps this long before copying,
 *		holding its reference on the device page and, if it
 *		collected the page for migration, the page lock (same limit)
 * @fail_copies: the next @fail_copies copies from device to system memory
 *		fail, as a DMA error would: the page (a large folio: the whole
 *		folio) stays on the device; a CPU fault that needed it gets
 *		SIGBUS, MIGRATE_TO_SYS and eviction report it as not moved
 * @revoke_delay_ms: the next invalidation of one page that a file of the
 *		device holds exclusively (HMM_DMIRROR_EXCLUSIVE) sleeps this
 *		long before the driver takes its lock (same limit), then the
 *		knob is 0 again; when a CPU access revokes the exclusive
 *		access, the kernel holds the page lock meanwhile; only a task
 *		of the process that opened the file sleeps, never a kernel
 *		thread
 * @pad:	@revoke_delay_ms's former name, when it had to be 0
 * @settle_delay_ms: the next command of a file of the device that walks
 *		the CPU page table with hmm_range_fault() (HMM_DMIRROR_READ,
 *		WRITE, READ_UNLOCKED, SNAPSHOT, the device mapping after
 *		MIGRATE_TO_DEV, HMM_MOCK_PAGE_INFO; not EXCLUSIVE,
 *		CHECK_EXCLUSIVE or MIGRATE_TO_SYS) sleeps after the walk,
 *		before the driver lock under which it checks that no
 *		invalidation ran meanwhile: until an invalidation of the
 *		range, at most this long (same limit); then the knob is 0
 *		again. It holds no mm lock while it sleeps, but an EXCLUSIVE
 *		of the same file waits for it. HMM_MOCK_STATS' settle_sleeps
 *		counts the sleep when it begins. Callers that know only the
 *		first four knobs (16 bytes) still work: this one is then 0
 *
 * Every knob is zero after load and after the device's last file closes.
 * HMM_MOCK_INJECT sets all of them at once, or, for a value out of range,
 * none (-EINVAL).
 */
struct hmm_mock_inject {
	__u32 fault_delay_ms;
	__u32 hold_lock_ms;
	__u32 fail_copies;
	union {
		__u32 revoke_delay_ms;
		__u32 pad;
	};
	__u32 settle_delay_ms;
};

#define HMM_MOCK_INJECT_MAX_MS		1000

/**
 * struct hmm_mock_free_check - the free lists checked page by page
 * @free:	pages found on the free lists
 * @referenced:	of those, pages with a non-zero reference count
 * @stale_mapping: of those, pages (single pages and the first pages of
 *		free runs) whose ->mapping still points somewhere
 *
 * A correct driver always reports @referenced == @stale_mapping == 0: a
 * free device page is unreferenced and belongs to nothing until
 * zone_device_page_init() hands it out again.
 */
struct hmm_mock_free_check {
	__u64 free;
	__u64 referenced;
	__u64 stale_mapping;
};

/*
 * HMM_MOCK_PAGE_INFO describes pages of the caller's address space; like
 * the HMM_DMIRROR_* range commands it works only in the process that opened
 * the file, and -EINVAL for a bad range or entry size changes nothing.
 * HMM_MOCK_INJECT and HMM_MOCK_CHECK_FREE act on the whole device, from
 * any process holding the file; HMM_MOCK_INJECT, which slows or fails
 * other processes' faults, needs CAP_SYS_ADMIN.
 */
#define HMM_MOCK_PAGE_INFO	_IOWR(HMM_MOCK_IOC_TYPE, 0x01, struct hmm_mock_page_info_cmd)
#define HMM_MOCK_INJECT		_IOW(HMM_MOCK_IOC_TYPE, 0x02, struct hmm_mock_inject)
#define HMM_MOCK_CHECK_FREE	_IOR(HMM_MOCK_IOC_TYPE, 0x03, struct hmm_mock_free_check)

#endif /* _UAPI_HMM_MOCK_H */
