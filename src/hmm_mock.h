/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm-mock internal interfaces.
 */
#ifndef _HMM_MOCK_H
#define _HMM_MOCK_H

#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/xarray.h>

struct hmm_dmirror_cmd;
struct hmm_mock_stats;

#define HMM_MOCK_NDEVICES	4

/* Device memory is added in chunks of this size, up to a per-device cap. */
#define HMM_MOCK_CHUNK_SIZE	(16UL << 20)
#define HMM_MOCK_CHUNK_PAGES	(HMM_MOCK_CHUNK_SIZE >> PAGE_SHIFT)
#define HMM_MOCK_MAX_CHUNKS	64

/*
 * Pages per step of every range walk (migration, hmm_range_fault, copies):
 * arrays of this size live on the stack or in one per-command allocation.
 */
#define HMM_MOCK_BATCH		64

/**
 * struct hmm_mock_chunk - one piece of device memory and its struct pages
 * @pagemap:	the ZONE_DEVICE pagemap; @pagemap.owner is the device
 * @mdev:	device the chunk belongs to
 * @first_pfn:	pfn of the chunk's first page
 * @backing:	device-private chunks: for each page, the system page that
 *		holds its contents (allocated on first use, kept while the
 *		chunk exists); NULL for coherent chunks, whose pages are
 *		ordinary CPU-addressable memory
 */
struct hmm_mock_chunk {
	struct dev_pagemap pagemap;
	struct hmm_mock_device *mdev;
	unsigned long first_pfn;
	struct page **backing;
};

/**
 * struct hmm_mock_device - one mock GPU: a device node and its memory
 * @misc:	the misc device behind /dev/hmm_dmirror<@id>
 * @id:		device number, 0..HMM_MOCK_NDEVICES - 1
 * @mem_type:	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT
 * @spm_base:	coherent devices: physical start of the reserved range
 * @spm_size:	coherent devices: size of the reserved range in bytes
 * @name:	storage for @misc's node name
 * @chunks_lock: serialises adding and removing chunks
 * @chunks:	the chunks created so far
 * @nchunks:	number of entries in @chunks
 * @free_lock:	protects @free_list and the page counters below it
 * @free_list:	free single device pages, linked through
 *		page->zone_device_data
 * @large_free_list: free PMD-aligned runs of HMM_MOCK_PMD_NR pages kept
 *		for large folios, linked through the first page's
 *		zone_device_data (only when hmm_mock_devmem_large())
 * @pages_free:	pages on @free_list and in the runs of @large_free_list
 * @pages_in_use: pages handed out and not yet freed
 * @page_frees:	calls of the pagemap's page_free/folio_free
 * @large_free:	runs on @large_free_list
 * @large_allocs: large folios handed out
 * @folio_splits: large folios the kernel split while they were in use
 * @cpu_faults:	successful CPU-fault migrations to system memory
 * @evicted:	pages moved out by eviction
 * @open_lock:	protects @open_count
 * @open_count:	open files; the last close evicts the device's memory
 */
struct hmm_mock_device {
	struct miscdevice misc;
	unsigned int id;
	unsigned int mem_type;
	phys_addr_t spm_base;
	resource_size_t spm_size;
	char name[16];

	struct mutex chunks_lock;	/* growth and removal of @chunks */
	struct hmm_mock_chunk *chunks[HMM_MOCK_MAX_CHUNKS];
	unsigned int nchunks;

	spinlock_t free_lock;		/* @free_list and its counters */
	struct page *free_list;
	struct page *large_free_list;
	unsigned long pages_free;
	unsigned long pages_in_use;
	unsigned long page_frees;
	unsigned long large_free;
	unsigned long large_allocs;
	atomic_long_t folio_splits;
	atomic_long_t cpu_faults;
	atomic_long_t evicted;

	struct mutex open_lock;		/* @open_count */
	unsigned int open_count;
};

/**
 * struct hmm_mock_mirror - one open file: the device's view of one process
 * @mdev:	the device the file was opened on
 * @mm:		address space of the opening process; the only one the file
 *		acts on (held with mmgrab())
 * @notifier:	invalidation callbacks for the whole of @mm
 * @lock:	protects @pt; held while an invalidation clears it, so a
 *		fault installs entries only if no invalidation ran since its
 *		hmm_range_fault() (mmu_interval_read_retry() under @lock)
 * @pt:		the device page table: virtual pfn -> struct page, tagged
 *		with the access the device has (HMM_MOCK_PT_*)
 * @migrate_lock: serialises the migrations this file starts
 * @migrating:	task running one of this file's migrations; invalidations
 *		that migration causes itself are skipped (see mirror.c)
 * @own_seq:	bumped under @lock each time one of this file's migrations
 *		updates @pt itself, so a concurrent fault that raced with the
 *		skipped invalidation retries
 * @flags:	HMM_DMIRROR_FLAG_* set with HMM_DMIRROR_FLAGS
 */
struct hmm_mock_mirror {
	struct hmm_mock_device *mdev;
	struct mm_struct *mm;
	struct mmu_interval_notifier notifier;
	struct mutex lock;		/* @pt against invalidations */
	struct xarray pt;
	struct mutex migrate_lock;	/* one own migration at a time */
	struct task_struct *migrating;
	unsigned long own_seq;
	u64 flags;
};

/* Tags of device page table entries: the access the device was granted. */
#define HMM_MOCK_PT_READ	0UL
#define HMM_MOCK_PT_WRITE	1UL
#define HMM_MOCK_PT_ATOMIC	3UL	/* exclusive: CPU access revoked */

extern const struct file_operations hmm_mock_fops;

/* devmem.c: device memory and the life cycle of device pages */

/**
 * hmm_mock_devmem_init() - set up the memory bookkeeping of a device
 * @mdev: the device; no memory is created until the first allocation
 */
void hmm_mock_devmem_init(struct hmm_mock_device *mdev);

/**
 * hmm_mock_devmem_alloc() - hand out device pages
 * @mdev:	device to allocate from
 * @n:		number of pages wanted, at most HMM_MOCK_BATCH
 * @pages:	filled with the pages handed out
 *
 * Takes the pages off the free list under one lock acquisition, growing
 * the device memory by a chunk when the list runs dry and the cap allows.
 * Every page returned is initialised for use: reference count one, locked,
 * holding a pagemap reference. Its contents are undefined.
 *
 * Return: number of pages handed out; fewer than @n when device memory is
 * exhausted, which is not an error.
 */
unsigned int hmm_mock_devmem_alloc(struct hmm_mock_device *mdev, unsigned int n,
				   struct page **pages);

/**
 * hmm_mock_devmem_large() - whether a device hands out large folios
 * @mdev: the device
 *
 * Return: true for device-private memory on kernels with large
 * device-private folios (HMM_MOCK_LARGE_FOLIOS).
 */
bool hmm_mock_devmem_large(struct hmm_mock_device *mdev);

/**
 * hmm_mock_devmem_alloc_large() - hand out one PMD-order device folio
 * @mdev: device to allocate from; hmm_mock_devmem_large() must be true
 *
 * Takes a free PMD-aligned run, growing the device memory by a chunk when
 * none is left and the cap allows, and makes sure every page of it has
 * backing memory. The folio is initialised like the pages of
 * hmm_mock_devmem_alloc(): reference count one, locked, one pagemap
 * reference per page. Its contents are undefined.
 *
 * Return: the folio's first page, or NULL when no run is available (the
 * caller falls back to single pages).
 */
struct page *hmm_mock_devmem_alloc_large(struct hmm_mock_device *mdev);

/**
 * hmm_mock_devmem_data() - the memory holding a device page's contents
 * @page: a device page of hmm-mock, or any ordinary page
 *
 * Return: the backing page of a device-private page, @page itself for
 * device-coherent and ordinary pages.
 */
struct page *hmm_mock_devmem_data(struct page *page);

/**
 * hmm_mock_page_device() - the hmm-mock device owning a page
 * @page: any page
 *
 * Return: the device, or NULL if @page is not device memory of hmm-mock.
 */
struct hmm_mock_device *hmm_mock_page_device(struct page *page);

/**
 * hmm_mock_devmem_stats() - read a device's memory counters
 * @mdev:	the device
 * @stats:	filled in
 */
void hmm_mock_devmem_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats);

/**
 * hmm_mock_devmem_fini() - give all device memory back to the kernel
 * @mdev: the device; nothing may use it any more (module unload)
 *
 * Evicts what is still in use, checks that every device page is free at
 * reference count zero, logs loudly if not, and removes the chunks.
 */
void hmm_mock_devmem_fini(struct hmm_mock_device *mdev);

/* evict.c */

/**
 * hmm_mock_evict_device() - move all of a device's pages to system memory
 * @mdev: the device
 *
 * Uses migrate_device_range() over every chunk, so it reaches pages by pfn
 * whatever process maps them. Pages that are busy (locked or migrating) are
 * retried for a while.
 *
 * Return: 0 when no device page is in use any more, -EBUSY otherwise.
 */
int hmm_mock_evict_device(struct hmm_mock_device *mdev);

/* mirror.c: the device page table and the commands that use it */

/**
 * hmm_mock_mirror_init() - start mirroring current->mm
 * @mirror: mirror with @mdev set
 *
 * Return: 0 or -errno.
 */
int hmm_mock_mirror_init(struct hmm_mock_mirror *mirror);

/**
 * hmm_mock_mirror_fini() - stop mirroring and drop the device page table
 * @mirror: the mirror
 */
void hmm_mock_mirror_fini(struct hmm_mock_mirror *mirror);

/**
 * hmm_mock_mirror_forget() - drop device entries one of our commands changed
 * @mirror:	the mirror that ran the command
 * @start:	first address of the range
 * @end:	end address (exclusive)
 *
 * The mirror skips the invalidations of its own migrations, so a migration
 * calls this after migrate_*_pages() and before migrate_*_finalize() frees
 * the old pages; a failed EXCLUSIVE calls it to take back what it mapped.
 */
void hmm_mock_mirror_forget(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long end);

/**
 * hmm_mock_mirror_begin_migration() - mark the start of an own migration
 * @mirror: the mirror; its migrate_lock is taken
 */
void hmm_mock_mirror_begin_migration(struct hmm_mock_mirror *mirror);

/**
 * hmm_mock_mirror_end_migration() - mark its end
 * @mirror: the mirror; its migrate_lock is released
 */
void hmm_mock_mirror_end_migration(struct hmm_mock_mirror *mirror);

/**
 * hmm_mock_pt_store() - install one device page table entry
 * @mirror:	the mirror, with @mirror->lock held
 * @addr:	virtual address of the page
 * @page:	the page the device accesses there
 * @tag:	HMM_MOCK_PT_READ, _WRITE or _ATOMIC
 *
 * Return: 0 or -ENOMEM.
 */
int hmm_mock_pt_store(struct hmm_mock_mirror *mirror, unsigned long addr,
		      struct page *page, unsigned long tag);

/**
 * hmm_mock_mirror_map_device_pages() - map pages resident on the device
 * @mirror:	the mirror
 * @start:	first address
 * @end:	end address (exclusive)
 *
 * Snapshots the CPU page table without faulting and installs every page of
 * the range that is memory of @mirror's device into the device page table.
 *
 * Return: 0 or -errno.
 */
int hmm_mock_mirror_map_device_pages(struct hmm_mock_mirror *mirror, unsigned long start,
				     unsigned long end);

/**
 * hmm_mock_mirror_copy_out() - copy what the device sees to user memory
 * @mirror:	the mirror
 * @cmd:	range and user buffer; @cmd->cpages counts the pages copied
 *
 * Uses only entries already in the device page table, never faults.
 *
 * Return: 0, -ENOENT when a page of the range is not mapped on the device,
 * -EFAULT or -ENOMEM.
 */
int hmm_mock_mirror_copy_out(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_cmd_read() - HMM_DMIRROR_READ
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_read(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_cmd_read_unlocked() - HMM_DMIRROR_READ_UNLOCKED
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Like READ, but faults run without mmap_lock held by the driver, so that
 * fault handlers which drop it (userfaultfd) can serve them. Only where
 * HMM_MOCK_CAN_FAULT_UNLOCKED.
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_read_unlocked(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_cmd_write() - HMM_DMIRROR_WRITE
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_write(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_cmd_snapshot() - HMM_DMIRROR_SNAPSHOT
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_snapshot(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/* migrate.c */

/**
 * hmm_mock_cmd_migrate_to_dev() - HMM_DMIRROR_MIGRATE_TO_DEV
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 or -errno; -ENOENT when some page could not be moved.
 */
int hmm_mock_cmd_migrate_to_dev(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_cmd_migrate_to_sys() - HMM_DMIRROR_MIGRATE_TO_SYS
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_migrate_to_sys(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_unshare_device_page() - prepare a device page for a device write
 * @mirror:	the mirror that wants to write
 * @addr:	address of a page of @mirror's device that the CPU maps
 *		read-only (shared after fork, or write-protected)
 *
 * hmm_range_fault() cannot upgrade such an entry, so the page goes back to
 * system memory, where the write fault that follows breaks the sharing
 * like a CPU write would. Caller holds no mm lock; @mirror->mm is pinned.
 *
 * Return: 0, -EPERM when the mapping does not allow writes, or -errno.
 */
int hmm_mock_unshare_device_page(struct hmm_mock_mirror *mirror, unsigned long addr);

/**
 * hmm_mock_migrate_to_ram() - dev_pagemap_ops.migrate_to_ram
 * @vmf: the CPU fault on a device-private page of hmm-mock
 *
 * Return: 0 or a VM_FAULT_* code.
 */
vm_fault_t hmm_mock_migrate_to_ram(struct vm_fault *vmf);

/**
 * hmm_mock_copy_to_new_page() - fill a new system page with device data
 * @dst:	the new page
 * @src:	the device page
 */
void hmm_mock_copy_to_new_page(struct page *dst, struct page *src);

/* exclusive.c */

/**
 * hmm_mock_cmd_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 or -errno; -EBUSY when a page could not be made exclusive.
 */
int hmm_mock_cmd_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

/**
 * hmm_mock_cmd_check_exclusive() - HMM_DMIRROR_CHECK_EXCLUSIVE
 * @mirror:	the mirror
 * @cmd:	the command, validated
 *
 * Return: 0 when no page of the range is still exclusive to the device,
 * -EPERM otherwise.
 */
int hmm_mock_cmd_check_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

#endif /* _HMM_MOCK_H */
