// SPDX-License-Identifier: GPL-2.0
/*
 * Device pages into new system pages: the helper every move to system
 * memory uses (MIGRATE_TO_SYS, the CPU fault, eviction), and the CPU fault
 * on a device-private page, dev_pagemap_ops.migrate_to_ram.
 */
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <uapi/hmm_mock.h>

#include "compat.h"
#include "devmem.h"
#include "hmm_mock.h"
#include "migrate.h"

/* The most pages a CPU fault brings back: see hmm_mock_fault_around_pages(). */
#define HMM_MOCK_FAULT_AROUND	16

/*
 * Moves the large device folio at entry @i into a THP, if one can be had.
 * Returns 1 when it did, 0 when no THP was to be had, -EIO when a copy
 * failed: the folio then stays on the device whole.
 */
static int hmm_mock_fill_system_thp(const struct hmm_mock_sysmem_dst *to,
				    const unsigned long *src, unsigned long *dst, unsigned long i)
{
	struct page *spage = migrate_pfn_to_page(src[i]);
	struct folio *folio;
	unsigned long j;

	if (to->no_thp)
		return 0;
	folio = hmm_mock_alloc_thp(to->vma, to->start + (i << PAGE_SHIFT));
	if (!folio)
		return 0;
	for (j = 0; j < HMM_MOCK_PMD_NR; j++) {
		if (hmm_mock_devmem_copy_out(folio_page(folio, j), spage + j)) {
			folio_put(folio);
			return -EIO;
		}
	}
	folio_lock(folio);
	dst[i] = migrate_pfn(folio_pfn(folio)) | HMM_MOCK_PFN_COMPOUND |
		 (src[i] & MIGRATE_PFN_WRITE);
	return 1;
}

/* A new system page for entry @i, placed by the VMA's policy if any. */
static struct page *hmm_mock_alloc_system_page(const struct hmm_mock_sysmem_dst *to,
					       unsigned long i)
{
	if (!to->vma)
		return alloc_page(to->gfp);
	return alloc_page_vma(to->gfp, to->vma, to->start + (i << PAGE_SHIFT));
}

/*
 * Gives device page @i a single new system page with its contents, locked.
 * Returns 0 (also when no page was free: the entry stays where it is), or
 * -EIO when the copy failed.
 */
static int hmm_mock_fill_system_small(const struct hmm_mock_sysmem_dst *to,
				      const unsigned long *src, unsigned long *dst, unsigned long i)
{
	struct page *dpage = hmm_mock_alloc_system_page(to, i);

	if (!dpage)
		return 0;
	if (hmm_mock_devmem_copy_out(dpage, migrate_pfn_to_page(src[i]))) {
		__free_page(dpage);
		return -EIO;
	}
	lock_page(dpage);
	dst[i] = migrate_pfn(page_to_pfn(dpage)) | (src[i] & MIGRATE_PFN_WRITE);
	return 0;
}

/**
 * hmm_mock_fill_system_pages() - give collected device pages new system pages
 * @to:		where the pages go
 * @src:	migrate_vma or migrate_device_* source entries, collected
 * @dst:	filled with the destination entries
 * @npages:	entries in @src and @dst
 * @whole:	if not NULL, set to the number of large device folios left
 *		whole for want of a THP
 *
 * Each collected device page gets a new system page, locked, with its
 * contents, and a large device folio (MIGRATE_PFN_COMPOUND) a THP. A large
 * folio for which no THP can be had stays whole on the device: given
 * single pages, the kernel would split it after unmapping it
 * (migrate_vma_split_unmapped_folio()), and 7.3 splits only the PMD of
 * @to->vma then: for a folio that another process maps too (after fork),
 * the rmap walk that restores that mapping oopses. A range migration
 * collects such a folio again page by page, which splits it while it is
 * mapped; a CPU fault cannot (see hmm_mock_fill_fault_first()). Entries
 * left without a page stay where they are, and so do pages already
 * vacated and pages whose copy failed (a large folio whose copy into a
 * THP failed stays whole).
 *
 * Return: 0, or -EIO when some copy failed.
 */
int hmm_mock_fill_system_pages(const struct hmm_mock_sysmem_dst *to, const unsigned long *src,
			       unsigned long *dst, unsigned long npages, unsigned long *whole)
{
	unsigned long i, nr, left = 0;
	int ret = 0, err;

	for (i = 0; i < npages; i++)
		dst[i] = 0;
	for (i = 0; i < npages; i += nr) {
		struct page *spage = migrate_pfn_to_page(src[i]);

		nr = 1;
		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE) || hmm_mock_devmem_vacated(spage))
			continue;
		if (src[i] & HMM_MOCK_PFN_COMPOUND) {
			nr = min(HMM_MOCK_PMD_NR, npages - i);
			err = hmm_mock_fill_system_thp(to, src, dst, i);
			if (!err)
				left++;
		} else {
			err = hmm_mock_fill_system_small(to, src, dst, i);
		}
		if (err < 0)
			ret = err;
	}
	if (whole)
		*whole = left;
	return ret;
}

/**
 * hmm_mock_vacate_moved() - settle the sources of a migration
 * @src:	source entries after migrate_*_pages()
 * @npages:	entries
 *
 * Marks each device page that moved to system memory vacated (see
 * hmm_mock_devmem_vacate()), before migrate_*_finalize() unlocks it.
 *
 * Return: the pages of the entries that still say MIGRATE_PFN_MIGRATE,
 * counting a large folio as all its pages.
 */
unsigned long hmm_mock_vacate_moved(const unsigned long *src, unsigned long npages)
{
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++) {
		struct page *page = migrate_pfn_to_page(src[i]);

		if (!page || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (is_zone_device_page(page))
			hmm_mock_devmem_vacate(page);
		n += src[i] & HMM_MOCK_PFN_COMPOUND ? HMM_MOCK_PMD_NR : 1;
	}
	return n;
}

/*
 * Race widening for reproducers (HMM_MOCK_INJECT): sleeps as long as the
 * knob says, unless a fatal signal arrives; one load when unused.
 */
static void hmm_mock_inject_sleep(struct vm_fault *vmf, atomic_t *ms)
{
	unsigned int t = atomic_read(ms);

	/* Only user-mode accesses: no signal ends khugepaged's or GUP's. */
	if (unlikely(t) && (vmf->flags & FAULT_FLAG_USER))
		schedule_timeout_killable(msecs_to_jiffies(t));
}

/*
 * Gives the faulting entry @fault its system page first, so that a failed
 * copy or allocation lands on the page the fault needs; the neighbours
 * follow only when it moved, and only if memory is at hand (no direct
 * reclaim while the fault holds the window's pages locked): each of them
 * may stay on the device. A large folio at @fault takes the whole window.
 *
 * With no THP for that folio, its first page gets a single page. The
 * fault cannot collect the folio again page by page as a range migration
 * does: collecting takes a reference besides the fault's, so the kernel
 * cannot split the folio while it is mapped, skips it, and the fault
 * would come again on the same PMD for ever. The single page makes the
 * kernel split the fault's PMD and then the unmapped folio, and
 * folio_split_unmapped() fails on those same two references, before the
 * trap described at hmm_mock_fill_system_pages(): nothing moves, and the
 * fault comes again on a pte, where collecting the page splits the folio
 * while it is mapped. (hmm_mock_thp's
 * fail_alloc_makes_the_next_cpu_fault_bring_back_small_pages counts one
 * fault that moved pages: a kernel whose split succeeded here would make
 * it two.)
 */
static int hmm_mock_fill_fault_first(const struct hmm_mock_sysmem_dst *to,
				     const unsigned long *src, unsigned long *dst,
				     unsigned long npages, unsigned long fault)
{
	struct hmm_mock_sysmem_dst at = *to;
	unsigned long nr = src[fault] & HMM_MOCK_PFN_COMPOUND ? npages - fault : 1;
	unsigned long whole;
	int err;

	memset(dst, 0, npages * sizeof(*dst));
	at.start = to->start + (fault << PAGE_SHIFT);
	err = hmm_mock_fill_system_pages(&at, src + fault, dst + fault, nr, &whole);
	if (whole)
		err = hmm_mock_fill_system_small(&at, src + fault, dst + fault, 0);
	if (!dst[fault])
		return err;
	at.gfp = (at.gfp & ~__GFP_DIRECT_RECLAIM) | __GFP_NOWARN;
	at.start = to->start;
	hmm_mock_fill_system_pages(&at, src, dst, fault, NULL);
	at.start = to->start + ((fault + nr) << PAGE_SHIFT);
	hmm_mock_fill_system_pages(&at, src + fault + nr, dst + fault + nr, npages - fault - nr,
				   NULL);
	return 0;
}

/*
 * Moves the @npages pages from @start back, the faulting one among them
 * (a whole large folio when @flags collects one), using @src and @dst as
 * the arrays.
 */
static vm_fault_t hmm_mock_fault_window(struct vm_fault *vmf, struct hmm_mock_device *mdev,
					unsigned long start, unsigned long npages,
					unsigned long flags, unsigned long *src, unsigned long *dst)
{
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = start,
		.end = start + (npages << PAGE_SHIFT),
		.src = src,
		.dst = dst,
		.pgmap_owner = mdev,
		.flags = flags,
		.fault_page = vmf->page,
	};
	struct hmm_mock_sysmem_dst to = {
		.vma = vmf->vma,
		.start = start,
		.gfp = GFP_HIGHUSER_MOVABLE,
	};
	unsigned long fault = (vmf->address - start) >> PAGE_SHIFT;
	vm_fault_t ret = 0;
	int err;

	hmm_mock_inject_sleep(vmf, &mdev->inject.fault_delay_ms);
	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	/* A large folio collected whole is entry 0, whichever page faulted. */
	if (src[0] & HMM_MOCK_PFN_COMPOUND)
		fault = 0;
	/*
	 * Widen the window in which this fault holds the page: its reference,
	 * and the page lock if it collected the page.
	 */
	hmm_mock_inject_sleep(vmf, &mdev->inject.hold_lock_ms);
	to.no_thp = (flags & HMM_MOCK_SELECT_COMPOUND) &&
		    atomic_xchg(&mdev->inject.fault_no_thp, 0);
	err = hmm_mock_fill_fault_first(&to, src, dst, npages, fault);
	/*
	 * Not collected (someone else is moving the page), or the entry is
	 * empty now (unmapped meanwhile, which migrate_vma_setup() offers to
	 * fill): the fault retries. Collected but not moved: its copy failed
	 * or no system page was free.
	 */
	if (migrate_pfn_to_page(src[fault]) && (src[fault] & MIGRATE_PFN_MIGRATE) && !dst[fault])
		ret = err ? VM_FAULT_SIGBUS : VM_FAULT_OOM;
	migrate_vma_pages(&args);
	if (hmm_mock_vacate_moved(src, npages))
		atomic_long_inc(&mdev->cpu_faults);
	migrate_vma_finalize(&args);
	return ret;
}

/*
 * A PMD fault (no pte) on a large folio moves the whole folio; the arrays
 * for a PMD's worth of entries are too big for the stack.
 */
static vm_fault_t hmm_mock_fault_pmd(struct vm_fault *vmf, struct hmm_mock_device *mdev)
{
	unsigned long *src, *dst;
	vm_fault_t ret = VM_FAULT_OOM;

	src = kcalloc(HMM_MOCK_PMD_NR, sizeof(*src), GFP_KERNEL);
	dst = kcalloc(HMM_MOCK_PMD_NR, sizeof(*dst), GFP_KERNEL);
	if (src && dst)
		ret = hmm_mock_fault_window(vmf, mdev, vmf->address & PMD_MASK, HMM_MOCK_PMD_NR,
					    MIGRATE_VMA_SELECT_DEVICE_PRIVATE |
					    HMM_MOCK_SELECT_COMPOUND, src, dst);
	kfree(dst);
	kfree(src);
	return ret;
}

/**
 * hmm_mock_fault_around_pages() - pages a user-mode CPU fault brings back
 * @mdev:	the device
 *
 * A fault of a user-mode access on a device-private page brings back,
 * with it, the pages of the same device in its aligned window of
 * HMM_MOCK_FAULT_AROUND pages (within the VMA): one migration of a window
 * costs little more than one of a page, and an access to a page is seldom
 * the last to its window. The window's invalidation also drops the
 * device's mappings of every page in it, exclusive ones included, so the
 * kernel's own faults (GUP, hmm_range_fault()), whose callers walk a range
 * page by page and may already hold the pages before, bring back one.
 * Not on devices with large folios: collecting a neighbour that belongs
 * to a pte-mapped large folio splits it under a sleeping folio lock while
 * the fault holds its own page's lock, and two such faults, or a fault
 * and a migration collecting the fault's page, could wait for each other.
 *
 * Return: HMM_MOCK_FAULT_AROUND, or 1.
 */
static unsigned long hmm_mock_fault_around_pages(struct hmm_mock_device *mdev)
{
	return hmm_mock_devmem_large(mdev) ? 1 : HMM_MOCK_FAULT_AROUND;
}

/**
 * hmm_mock_migrate_to_ram() - dev_pagemap_ops.migrate_to_ram
 * @vmf: the CPU fault on a device-private page of hmm-mock
 *
 * Moves the page (or, for a PMD-mapped large folio, the whole folio) to
 * system memory; for a user-mode access, with its neighbours on the same
 * device (see hmm_mock_fault_around_pages()). A large folio mapped by
 * ptes moves page by page.
 *
 * Return: 0 (also when another thread moved the page first: the fault
 * retries), VM_FAULT_OOM or VM_FAULT_SIGBUS.
 */
vm_fault_t hmm_mock_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmm_mock_device *mdev = hmm_mock_page_device(vmf->page);
	unsigned long nr = vmf->flags & FAULT_FLAG_USER ? hmm_mock_fault_around_pages(mdev) : 1;
	unsigned long src[HMM_MOCK_FAULT_AROUND], dst[HMM_MOCK_FAULT_AROUND];
	unsigned long size = nr << PAGE_SHIFT, base = ALIGN_DOWN(vmf->address, size);
	unsigned long start = max(base, vmf->vma->vm_start);
	unsigned long end = min(base + size, vmf->vma->vm_end);

	if (hmm_mock_devmem_large(mdev) && !vmf->pte && folio_test_large(page_folio(vmf->page)))
		return hmm_mock_fault_pmd(vmf, mdev);
	return hmm_mock_fault_window(vmf, mdev, start, (end - start) >> PAGE_SHIFT,
				     MIGRATE_VMA_SELECT_DEVICE_PRIVATE, src, dst);
}

/**
 * hmm_mock_migrate_stats() - read a device's migration counters
 * @mdev:	the device
 * @stats:	its migration fields are filled in, the others left alone
 */
void hmm_mock_migrate_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats)
{
	stats->cpu_faults = atomic_long_read(&mdev->cpu_faults);
	stats->fault_around_pages = mdev->mem_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE ?
				    hmm_mock_fault_around_pages(mdev) : 0;
	stats->evicted = atomic_long_read(&mdev->evicted);
}
