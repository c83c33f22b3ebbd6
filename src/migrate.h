/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layer 3, migration: moving pages between system memory and device
 * memory, by address for a mirror's process (migrate.c), on a CPU fault
 * (to_ram.c) and by pfn for a whole device (evict.c). Calls the device
 * page table (mirror.h) and device memory (devmem.h). Documented at the
 * definitions.
 */
#ifndef _HMM_MOCK_MIGRATE_H
#define _HMM_MOCK_MIGRATE_H

#include <linux/mm_types.h>
#include <linux/types.h>

struct hmm_mock_device;
struct hmm_mock_mirror;
struct hmm_mock_stats;

int hmm_mock_migrate_to_device(struct hmm_mock_mirror *mirror, unsigned long start,
			       unsigned long end);
int hmm_mock_migrate_to_system(struct hmm_mock_mirror *mirror, unsigned long start,
			       unsigned long end, u64 *moved);
int hmm_mock_migrate_unshare(struct hmm_mock_mirror *mirror, unsigned long addr);
int hmm_mock_evict_device(struct hmm_mock_device *mdev);
int hmm_mock_evict_device_once(struct hmm_mock_device *mdev);
void hmm_mock_evict_hold_off(void);
void hmm_mock_evict_resume(void);
void hmm_mock_migrate_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats);

/* The pagemap's callback (dev_pagemap_ops.migrate_to_ram). */
vm_fault_t hmm_mock_migrate_to_ram(struct vm_fault *vmf);

/* Inside the layer: the one way device pages get new system pages. */

/**
 * struct hmm_mock_sysmem_dst - where device pages go in system memory
 * @vma:	the VMA the new pages will be mapped in (NUMA placement, and
 *		the kernel can split a device folio there); NULL at eviction
 * @start:	address of entry 0 in @vma
 * @gfp:	GFP_HIGHUSER_MOVABLE, with __GFP_NOFAIL when the move must
 *		not fail for lack of memory (eviction)
 * @no_thp:	fault injection: large device folios get no THP
 */
struct hmm_mock_sysmem_dst {
	struct vm_area_struct *vma;
	unsigned long start;
	gfp_t gfp;
	bool no_thp;
};

int hmm_mock_fill_system_pages(const struct hmm_mock_sysmem_dst *to, const unsigned long *src,
			       unsigned long *dst, unsigned long npages, unsigned long *whole);
unsigned long hmm_mock_vacate_moved(const unsigned long *src, unsigned long npages);

#endif /* _HMM_MOCK_MIGRATE_H */
