/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel interfaces hmm-mock uses whose form differs between kernels,
 * each behind one small helper. What the target kernel offers comes from
 * the compile probes in conftest/ (conftest.h), never from its version
 * number: distribution kernels backport.
 */
#ifndef _HMM_MOCK_COMPAT_H
#define _HMM_MOCK_COMPAT_H

#include <linux/gfp.h>
#include <linux/hmm.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>

#include "conftest.h"

/* The pagemap of a ZONE_DEVICE page. */
static inline struct dev_pagemap *hmm_mock_page_pgmap(struct page *page)
{
#ifdef HMM_MOCK_HAVE_PAGE_PGMAP
	return page_pgmap(page);
#else
	return page->pgmap;
#endif
}

/*
 * Hand a free device page out: reference count 0 -> 1, locked, one pagemap
 * reference.
 */
static inline void hmm_mock_page_init(struct page *page, struct dev_pagemap *pgmap)
{
#if defined(HMM_MOCK_HAVE_ZONE_DEVICE_PAGE_INIT_PGMAP_ORDER)
	zone_device_page_init(page, pgmap, 0);
#elif defined(HMM_MOCK_HAVE_ZONE_DEVICE_PAGE_INIT_ORDER)
	zone_device_page_init(page, 0);
#else
	zone_device_page_init(page);
#endif
}

/*
 * Fill @pages with up to @n new pages; entries already set are kept.
 * Return: number of entries of @pages set on return.
 */
static inline unsigned long hmm_mock_alloc_pages_bulk(gfp_t gfp, unsigned long n,
						      struct page **pages)
{
#ifdef HMM_MOCK_HAVE_ALLOC_PAGES_BULK_ARRAY
	return alloc_pages_bulk_array(gfp, n, pages);
#else
	return alloc_pages_bulk(gfp, n, pages);
#endif
}

/*
 * Make the page mapped at @addr exclusive to the device @owner: its CPU
 * mapping is replaced by a device-exclusive entry that the next CPU access
 * turns back. Caller holds mmap_lock.
 *
 * Return: the page, locked and referenced (release with unlock_page() and
 * put_page()), or an ERR_PTR: -EBUSY when the kernel could not convert the
 * mapping, -EOPNOTSUPP on kernels without device-exclusive entries
 * (CONFIG_DEVICE_PRIVATE=n).
 */
static inline struct page *hmm_mock_make_page_exclusive(struct mm_struct *mm, unsigned long addr,
							void *owner)
{
#if !IS_ENABLED(CONFIG_DEVICE_PRIVATE)
	return ERR_PTR(-EOPNOTSUPP);
#elif defined(HMM_MOCK_HAVE_MAKE_DEVICE_EXCLUSIVE)
	struct folio *folio;

	return make_device_exclusive(mm, addr, owner, &folio);
#else
	struct page *page = NULL;
	int ret;

	ret = make_device_exclusive_range(mm, addr, addr + PAGE_SIZE, &page, owner);
	if (ret < 0)
		return ERR_PTR(ret);
	return page ?: ERR_PTR(-EBUSY);
#endif
}

/*
 * hmm_range_fault() with the caller not holding mmap_lock, so that fault
 * handlers that must drop it (userfaultfd) work; it takes the lock itself
 * and refreshes range->notifier_seq on each retry. Kernels without it:
 * HMM_MOCK_CAN_FAULT_UNLOCKED is false and this is never called.
 */
#ifdef HMM_MOCK_HAVE_HMM_RANGE_FAULT_UNLOCKED_TIMEOUT
#define HMM_MOCK_CAN_FAULT_UNLOCKED	true
static inline int hmm_mock_range_fault_unlocked(struct hmm_range *range, unsigned long timeout)
{
	return hmm_range_fault_unlocked_timeout(range, timeout);
}
#else
#define HMM_MOCK_CAN_FAULT_UNLOCKED	false
static inline int hmm_mock_range_fault_unlocked(struct hmm_range *range, unsigned long timeout)
{
	return -EOPNOTSUPP;
}
#endif

#endif /* _HMM_MOCK_COMPAT_H */
