/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layer 2, the device page table: what one open file's device may access
 * in its process, kept coherent with the CPU page table by an mmu interval
 * notifier. Calls only device memory (devmem.h). Documented at the
 * definitions in mirror.c and mirror_copy.c.
 */
#ifndef _HMM_MOCK_MIRROR_H
#define _HMM_MOCK_MIRROR_H

#include <linux/mm_types.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/xarray.h>

#include "hmm_mock.h"

/**
 * struct hmm_mock_mirror - one open file: the device's view of one process
 * @mdev:	the device the file was opened on
 * @mm:		address space of the opening process; the only one the file
 *		acts on (held with mmgrab())
 * @notifier:	invalidation callbacks for the whole of @mm
 * @lock:	protects @pt; held while an invalidation clears
 *		@pt, so a fault installs entries only if no invalidation ran
 *		since its hmm_range_fault() (mmu_interval_read_retry() under
 *		@lock). Taken from reclaim: allocate nothing that may reclaim
 *		while holding it.
 * @pt:		the device page table: virtual pfn -> struct page, tagged
 *		with the access the device has (HMM_MOCK_PT_*)
 * @fault_lock:	read by faults from hmm_range_fault() to the install,
 *		written by EXCLUSIVE: no fault of this file installs an
 *		entry while EXCLUSIVE converts pages
 * @exclusive_task: task running an EXCLUSIVE; its own invalidations do not
 *		move the notifier sequence (see mirror.c)
 * @flags:	HMM_DMIRROR_FLAG_* set with HMM_DMIRROR_FLAGS
 */
struct hmm_mock_mirror {
	struct hmm_mock_device *mdev;
	struct mm_struct *mm;
	struct mmu_interval_notifier notifier;
	struct mutex lock;		/* @pt against invalidations */
	struct xarray pt;
	struct rw_semaphore fault_lock;	/* faults against EXCLUSIVE */
	struct task_struct *exclusive_task;
	u64 flags;
};

/* Tags of device page table entries: the access the device was granted. */
#define HMM_MOCK_PT_READ	0UL
#define HMM_MOCK_PT_WRITE	1UL
#define HMM_MOCK_PT_ATOMIC	3UL	/* exclusive: CPU access revoked */

/* How hmm_mock_mirror_fault() fills the device page table. */
enum hmm_mock_fault_mode {
	HMM_MOCK_FAULT_READ,	/* fault pages in readable */
	HMM_MOCK_FAULT_READ_UNLOCKED, /* the same, letting faults drop mmap_lock */
	HMM_MOCK_FAULT_WRITE,	/* fault pages in writable */
	HMM_MOCK_DEVICE_ONLY,	/* no fault: map only pages on this device */
};

/**
 * struct hmm_mock_inspected - one page of a range, for hmm_mock_mirror_inspect()
 * @hmm_pfn:	the CPU page table's entry as hmm_range_fault() reports it
 *		(HMM_PFN_*), without faulting
 * @page:	the page it maps at that address, or NULL
 * @dev_page:	the device page table's page at that address, or NULL
 * @dev_tag:	its HMM_MOCK_PT_* access, when @dev_page is set
 */
struct hmm_mock_inspected {
	unsigned long hmm_pfn;
	struct page *page;
	struct page *dev_page;
	unsigned long dev_tag;
};

typedef void (*hmm_mock_inspect_fn)(void *arg, unsigned long i,
				    const struct hmm_mock_inspected *seen);

int hmm_mock_mirror_init(struct hmm_mock_mirror *mirror);
void hmm_mock_mirror_fini(struct hmm_mock_mirror *mirror);

int hmm_mock_mirror_begin_exclusive(struct hmm_mock_mirror *mirror);
void hmm_mock_mirror_end_exclusive(struct hmm_mock_mirror *mirror);
void hmm_mock_mirror_forget(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long end);

int hmm_mock_mirror_fault(struct hmm_mock_mirror *mirror, unsigned long start,
			  unsigned long end, enum hmm_mock_fault_mode mode,
			  unsigned long *readonly);
int hmm_mock_mirror_snapshot(struct hmm_mock_mirror *mirror, unsigned long start,
			     unsigned long npages, unsigned long *pfns);
int hmm_mock_mirror_inspect(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long npages, hmm_mock_inspect_fn fn, void *arg);
unsigned long hmm_mock_mirror_read_begin(struct hmm_mock_mirror *mirror);
int hmm_mock_mirror_map_exclusive(struct hmm_mock_mirror *mirror, unsigned long addr,
				  struct page *page, unsigned long seq);
bool hmm_mock_mirror_has_exclusive(struct hmm_mock_mirror *mirror, unsigned long start,
				   unsigned long npages);

unsigned long hmm_mock_mirror_read(struct hmm_mock_mirror *mirror, unsigned long addr,
				   unsigned long n, void *buf);
unsigned long hmm_mock_mirror_read_user(struct hmm_mock_mirror *mirror, unsigned long addr,
					unsigned long n, void __user *ubuf, bool *ufault);
unsigned long hmm_mock_mirror_write_user(struct hmm_mock_mirror *mirror, unsigned long addr,
					 unsigned long n, const void __user *ubuf, bool *ufault);

#endif /* _HMM_MOCK_MIRROR_H */
