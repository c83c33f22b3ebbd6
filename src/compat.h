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
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/slab.h>

#include "conftest.h"

/*
 * Typed allocation (7.x): the size comes from the object, not a sizeof()
 * that can name the wrong type. The helpers are macros, so their absence
 * is detected directly; older kernels get the same spelling here.
 */
#ifndef kmalloc_obj
#define kmalloc_obj(VAR_OR_TYPE, gfp) \
	({ typeof(VAR_OR_TYPE) *__obj = kmalloc(sizeof(VAR_OR_TYPE), gfp); __obj; })
#endif
#ifndef kzalloc_obj
#define kzalloc_obj(VAR_OR_TYPE, gfp) \
	({ typeof(VAR_OR_TYPE) *__obj = kzalloc(sizeof(VAR_OR_TYPE), gfp); __obj; })
#endif

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
 * Large (PMD-order) device-private folios need three things from the
 * kernel: migrate_vma_* moving a THP as one entry (SELECT_COMPOUND), a
 * folio_split callback so the driver hears when the kernel splits one of
 * its folios, and zone_device_page_init() taking an order. Without them
 * every device folio is a single page, as on kernels before 6.19. The
 * architecture must also migrate PMDs (hmm_mock_devmem_large() asks
 * thp_migration_supported() at run time).
 */
/* Pages in a PMD mapping, defined whether or not THP is configured. */
#define HMM_MOCK_PMD_NR		(1UL << (PMD_SHIFT - PAGE_SHIFT))
#define HMM_MOCK_PMD_ORDER	(PMD_SHIFT - PAGE_SHIFT)

#if defined(HMM_MOCK_HAVE_MIGRATE_VMA_SELECT_COMPOUND) && \
	defined(HMM_MOCK_HAVE_PGMAP_FOLIO_SPLIT) && \
	defined(HMM_MOCK_HAVE_ZONE_DEVICE_PAGE_INIT_PGMAP_ORDER) && \
	IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)
#define HMM_MOCK_LARGE_FOLIOS		1
#define HMM_MOCK_SELECT_COMPOUND	MIGRATE_VMA_SELECT_COMPOUND
#define HMM_MOCK_PFN_COMPOUND		MIGRATE_PFN_COMPOUND

/*
 * Hand a free PMD-aligned run of device pages out as one large folio:
 * reference count 0 -> 1, locked, one pagemap reference per page.
 */
static inline void hmm_mock_large_folio_init(struct page *head, struct dev_pagemap *pgmap,
					     unsigned int order)
{
	zone_device_folio_init(page_folio(head), pgmap, order);
}

/*
 * A THP of system memory to move a large device folio back into, for
 * @vma at @addr (NULL @vma: eviction, no placement hint). May fail.
 */
static inline struct folio *hmm_mock_alloc_thp(struct vm_area_struct *vma, unsigned long addr)
{
	if (!vma)
		return folio_alloc(GFP_TRANSHUGE, HMM_MOCK_PMD_ORDER);
	return vma_alloc_folio(GFP_TRANSHUGE, HMM_MOCK_PMD_ORDER, vma, addr & PMD_MASK);
}
#else
#define HMM_MOCK_LARGE_FOLIOS		0
#define HMM_MOCK_SELECT_COMPOUND	0
#define HMM_MOCK_PFN_COMPOUND		0UL

static inline void hmm_mock_large_folio_init(struct page *head, struct dev_pagemap *pgmap,
					     unsigned int order)
{
	WARN_ON_ONCE(1);
}

static inline struct folio *hmm_mock_alloc_thp(struct vm_area_struct *vma, unsigned long addr)
{
	return NULL;
}
#endif

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
 * Whether a device-exclusive entry counts as a mapping of its page: since
 * 6.15's device-exclusive rework (make_device_exclusive()). Before, the
 * page looks unmapped to rmap while the entry exists.
 */
#ifdef HMM_MOCK_HAVE_MAKE_DEVICE_EXCLUSIVE
#define HMM_MOCK_EXCLUSIVE_KEEPS_MAPCOUNT	true
#else
#define HMM_MOCK_EXCLUSIVE_KEEPS_MAPCOUNT	false
#endif

/* Pins @n pages of current's mm from @addr; caller holds mmap_lock. */
static inline long hmm_mock_pin_user_pages(unsigned long addr, unsigned long n,
					   unsigned int gup_flags, struct page **pages)
{
#ifdef HMM_MOCK_HAVE_PIN_USER_PAGES_NOVMAS
	return pin_user_pages(addr, n, gup_flags, pages);
#else
	return pin_user_pages(addr, n, gup_flags, pages, NULL);
#endif
}

/* Pins the page of current's mm at @addr; caller holds mmap_lock. */
static inline long hmm_mock_pin_user_page(unsigned long addr, unsigned int gup_flags,
					  struct page **page)
{
	return hmm_mock_pin_user_pages(addr, 1, gup_flags, page);
}

/* The anon flag of page->mapping alone: no anon_vma (renamed in 7.x). */
#ifdef FOLIO_MAPPING_ANON
#define HMM_MOCK_MAPPING_ANON	FOLIO_MAPPING_ANON
#else
#define HMM_MOCK_MAPPING_ANON	PAGE_MAPPING_ANON
#endif

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

/* How many page tables map @page's folio, for introspection. */
static inline int hmm_mock_mapcount(struct page *page)
{
#ifdef HMM_MOCK_HAVE_FOLIO_MAPCOUNT_INLINE
	return folio_mapcount(page_folio(page));
#else
	return page_mapcount(page);	/* folio_mapcount() is not exported */
#endif
}

#endif /* _HMM_MOCK_COMPAT_H */
