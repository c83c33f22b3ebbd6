// SPDX-License-Identifier: GPL-2.0
/*
 * Migration between system memory and device memory through
 * migrate_vma_setup/pages/finalize: the MIGRATE_TO_DEV and MIGRATE_TO_SYS
 * commands and the CPU fault on a device-private page.
 *
 * Ranges are processed in windows of HMM_MOCK_BATCH pages with the pfn
 * arrays in one per-command allocation, and each window takes its device
 * pages off the free list in batches. Devices that hand out large folios
 * (hmm_mock_devmem_large()) use PMD-aligned windows instead, so that
 * migrate_vma_setup() with MIGRATE_VMA_SELECT_COMPOUND can collect a THP
 * or a huge device page as one entry (MIGRATE_PFN_COMPOUND), which then
 * moves as one folio; when no large folio can be had on the other side,
 * each of its pages gets a single page and the kernel splits the source.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <uapi/hmm_mock.h>

#include "compat.h"
#include "hmm_mock.h"

/* Largest migration window: a PMD's worth of pages or a batch. */
#define HMM_MOCK_WINDOW_MAX	MAX(HMM_MOCK_BATCH, HMM_MOCK_PMD_NR)

struct hmm_mock_migrate_batch {
	unsigned long src[HMM_MOCK_WINDOW_MAX];
	unsigned long dst[HMM_MOCK_WINDOW_MAX];
	struct page *pages[HMM_MOCK_WINDOW_MAX];
};

void hmm_mock_copy_to_new_page(struct page *dst, struct page *src)
{
	copy_highpage(dst, hmm_mock_devmem_data(src));
}

/* migrate_vma flags for moving system pages to @mdev. */
static unsigned long hmm_mock_select_system(struct hmm_mock_device *mdev)
{
	if (hmm_mock_devmem_large(mdev))
		return MIGRATE_VMA_SELECT_SYSTEM | HMM_MOCK_SELECT_COMPOUND;
	return MIGRATE_VMA_SELECT_SYSTEM;
}

/* migrate_vma flags for moving device pages of @mdev back. */
static unsigned long hmm_mock_select_device(struct hmm_mock_device *mdev)
{
	if (mdev->mem_type != HMM_DMIRROR_MEMORY_DEVICE_PRIVATE)
		return MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	if (hmm_mock_devmem_large(mdev))
		return MIGRATE_VMA_SELECT_DEVICE_PRIVATE | HMM_MOCK_SELECT_COMPOUND;
	return MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

/*
 * Both commands want the whole range backed by readable mappings that
 * migrate_vma_setup() accepts; checking that first means a bad range fails
 * without moving anything.
 */
static int hmm_mock_check_vmas(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;

	for (addr = start; addr < end; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ))
			return -EINVAL;
		if (is_vm_hugetlb_page(vma) || (vma->vm_flags & VM_SPECIAL) || vma_is_dax(vma))
			return -EINVAL;
	}
	return 0;
}

/*
 * End of the window starting at @addr: a batch, or up to the next PMD
 * boundary for devices with large folios, so a THP is never cut in two.
 */
static unsigned long hmm_mock_batch_end(struct hmm_mock_device *mdev, struct mm_struct *mm,
					unsigned long addr, unsigned long end,
					struct vm_area_struct **vma)
{
	unsigned long next = addr + (HMM_MOCK_BATCH << PAGE_SHIFT);

	if (hmm_mock_devmem_large(mdev))
		next = ALIGN_DOWN(addr, PMD_SIZE) + PMD_SIZE;
	*vma = vma_lookup(mm, addr);
	return min3(end, (*vma)->vm_end, next);
}

/* Fault injection: the first allocation after HMM_DMIRROR_FLAGS fails. */
static bool hmm_mock_fail_alloc(struct hmm_mock_mirror *mirror)
{
	if (!(READ_ONCE(mirror->flags) & HMM_DMIRROR_FLAG_FAIL_ALLOC))
		return false;
	WRITE_ONCE(mirror->flags, mirror->flags & ~HMM_DMIRROR_FLAG_FAIL_ALLOC);
	return true;
}

/* Fills a device page from a system page, or with zeroes (@spage NULL). */
static void hmm_mock_copy_to_device(struct page *dpage, struct page *spage)
{
	struct page *data = hmm_mock_devmem_data(dpage);

	if (spage)
		copy_highpage(data, spage);
	else
		clear_highpage(data);
}

/* Device page entry for collected source entry @src of @args. */
static unsigned long hmm_mock_device_pfn(struct migrate_vma *args, unsigned long src,
					 struct page *dpage)
{
	unsigned long dst = migrate_pfn(page_to_pfn(dpage));

	/* No source page: an empty or zero-page entry. */
	if ((src & MIGRATE_PFN_WRITE) ||
	    (!migrate_pfn_to_page(src) && (args->vma->vm_flags & VM_WRITE)))
		dst |= MIGRATE_PFN_WRITE;
	return dst;
}

/*
 * Gives entries [@first, @first + @nr) single device pages, in batches.
 * @thp: the entries are the pages of one collected THP (or huge hole) at
 * @first that gets no large folio: entry @first + i takes page i of it,
 * and the kernel splits it. A hole must be filled completely or not at
 * all, since the kernel populates each of its pages. Entries left without
 * a page (device memory exhausted) stay where they are.
 */
static void hmm_mock_fill_small(struct hmm_mock_device *mdev, struct migrate_vma *args,
				struct hmm_mock_migrate_batch *b, unsigned long first,
				unsigned long nr, bool thp)
{
	unsigned long src0 = args->src[first], i = first, end = first + nr, j;
	struct page *head = thp ? migrate_pfn_to_page(src0) : NULL;
	unsigned int want, got, used;

	while (i < end) {
		for (j = i, want = 0; j < end && want < HMM_MOCK_BATCH; j++)
			want += thp || (args->src[j] & MIGRATE_PFN_MIGRATE);
		got = hmm_mock_devmem_alloc(mdev, want, b->pages);
		for (used = 0; i < j && used < got; i++) {
			struct page *spage;

			if (!thp && !(args->src[i] & MIGRATE_PFN_MIGRATE))
				continue;
			spage = thp ? (head ? head + (i - first) : NULL) :
				      migrate_pfn_to_page(args->src[i]);
			hmm_mock_copy_to_device(b->pages[used], spage);
			args->dst[i] = hmm_mock_device_pfn(args, thp ? src0 : args->src[i],
							   b->pages[used++]);
		}
		if (got < want)
			break;
	}
	if (i >= end || !thp || head)
		return;

	/* A huge hole that did not get all its pages: give them back. */
	for (i = first; i < end; i++) {
		struct page *dpage = migrate_pfn_to_page(args->dst[i]);

		args->dst[i] = 0;
		if (dpage) {
			unlock_page(dpage);
			put_page(dpage);
		}
	}
}

/* Moves a collected THP (or huge hole) at entry @i into one device folio. */
static bool hmm_mock_fill_large(struct hmm_mock_device *mdev, struct migrate_vma *args,
				unsigned long i)
{
	struct page *spage = migrate_pfn_to_page(args->src[i]);
	struct page *dhead = hmm_mock_devmem_alloc_large(mdev);
	unsigned long j;

	if (!dhead)
		return false;
	for (j = 0; j < HMM_MOCK_PMD_NR; j++)
		hmm_mock_copy_to_device(dhead + j, spage ? spage + j : NULL);
	args->dst[i] = hmm_mock_device_pfn(args, args->src[i], dhead) | HMM_MOCK_PFN_COMPOUND;
	return true;
}

/*
 * Gives each collected system page a device page with the same contents:
 * a THP gets one large device folio when one is free, else single pages.
 * Pages left without one (device memory exhausted) stay where they are.
 * HMM_DMIRROR_FLAG_FAIL_ALLOC fails the first allocation of the window: a
 * large one falls back to single pages, single pages are not moved.
 */
static void hmm_mock_fill_device_pages(struct hmm_mock_mirror *mirror, struct migrate_vma *args,
				       struct hmm_mock_migrate_batch *b)
{
	struct hmm_mock_device *mdev = mirror->mdev;
	unsigned long i, first_small = 0, want = 0;
	bool fail;

	for (i = 0; i < args->npages; i++) {
		args->dst[i] = 0;
		if (args->src[i] & MIGRATE_PFN_MIGRATE)
			want++;
	}
	if (!want)
		return;
	fail = hmm_mock_fail_alloc(mirror);

	for (i = 0; i < args->npages; i++) {
		unsigned long nr;

		if (!(args->src[i] & HMM_MOCK_PFN_COMPOUND) ||
		    !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (i > first_small) {
			if (!fail)
				hmm_mock_fill_small(mdev, args, b, first_small, i - first_small,
						    false);
			fail = false;
		}
		nr = min(HMM_MOCK_PMD_NR, args->npages - i);
		if (fail || !hmm_mock_fill_large(mdev, args, i))
			hmm_mock_fill_small(mdev, args, b, i, nr, true);
		fail = false;
		i += nr - 1;
		first_small = i + 1;
	}
	if (first_small < args->npages && !fail)
		hmm_mock_fill_small(mdev, args, b, first_small, args->npages - first_small, false);
}

/* Entry for a new system page @dpage taking the place of entry @src. */
static unsigned long hmm_mock_system_pfn(unsigned long src, struct page *dpage)
{
	return migrate_pfn(page_to_pfn(dpage)) | (src & MIGRATE_PFN_WRITE);
}

/* Moves the huge device page at entry @i into a THP, if one can be had. */
static bool hmm_mock_fill_thp(struct migrate_vma *args, unsigned long i)
{
	struct page *spage = migrate_pfn_to_page(args->src[i]);
	struct folio *folio;
	unsigned long j;

	folio = hmm_mock_alloc_thp(args->vma, args->start + (i << PAGE_SHIFT));
	if (!folio)
		return false;
	folio_lock(folio);
	for (j = 0; j < HMM_MOCK_PMD_NR; j++)
		hmm_mock_copy_to_new_page(folio_page(folio, j), spage + j);
	args->dst[i] = hmm_mock_system_pfn(args->src[i], &folio->page) | HMM_MOCK_PFN_COMPOUND;
	return true;
}

/*
 * Gives each collected device page a new system page with its contents:
 * a huge device page gets a THP when one can be allocated, else single
 * pages for each of its pages (the kernel splits it). @mirror (NULL for a
 * CPU fault) may fail the first THP allocation (HMM_DMIRROR_FLAG_FAIL_ALLOC).
 * Single pages come from one bulk allocation; pages left without one stay
 * on the device.
 */
static void hmm_mock_fill_system_pages(struct migrate_vma *args, struct hmm_mock_migrate_batch *b,
				       struct hmm_mock_mirror *mirror)
{
	unsigned long i, j, want = 0, got, used = 0;

	for (i = 0; i < args->npages; i++)
		args->dst[i] = 0;
	for (i = 0; i < args->npages; i++) {
		if (!migrate_pfn_to_page(args->src[i]) || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (args->src[i] & HMM_MOCK_PFN_COMPOUND) {
			if ((mirror && hmm_mock_fail_alloc(mirror)) || !hmm_mock_fill_thp(args, i))
				want += min(HMM_MOCK_PMD_NR, args->npages - i);
			i += HMM_MOCK_PMD_NR - 1;
			continue;
		}
		want++;
	}
	if (!want)
		return;
	memset(b->pages, 0, want * sizeof(b->pages[0]));
	got = hmm_mock_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, want, b->pages);

	for (i = 0; i < args->npages && used < got; i++) {
		unsigned long src = args->src[i], nr = 1;
		struct page *spage = migrate_pfn_to_page(src);

		if (!spage || !(src & MIGRATE_PFN_MIGRATE) || args->dst[i])
			continue;
		if (src & HMM_MOCK_PFN_COMPOUND)
			nr = min(HMM_MOCK_PMD_NR, args->npages - i);
		for (j = 0; j < nr && used < got; j++) {
			struct page *dpage = b->pages[used++];

			lock_page(dpage);
			hmm_mock_copy_to_new_page(dpage, spage + j);
			args->dst[i + j] = hmm_mock_system_pfn(src, dpage);
		}
		i += nr - 1;
	}
	/* Every page is used by construction; never leak one all the same. */
	for (; used < got; used++)
		__free_page(b->pages[used]);
}

static unsigned long hmm_mock_count_migrated(const struct migrate_vma *args)
{
	unsigned long i, n = 0;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_VALID) && (args->src[i] & MIGRATE_PFN_MIGRATE))
			n += args->src[i] & HMM_MOCK_PFN_COMPOUND ? HMM_MOCK_PMD_NR : 1;
	return n;
}

/*
 * Moves the pages of [start, end) to the device (@to_device) or back to
 * system memory, one batch at a time; @cpages, if given, counts the pages
 * that moved. The caller holds mmap_lock, has begun a migration on
 * @mirror and checked the VMAs.
 */
static int hmm_mock_migrate_batches(struct hmm_mock_mirror *mirror, unsigned long start,
				    unsigned long end, struct hmm_mock_migrate_batch *b,
				    bool to_device, u64 *cpages)
{
	struct hmm_mock_device *mdev = mirror->mdev;
	struct vm_area_struct *vma;
	unsigned long addr, next;
	int ret = 0;

	for (addr = start; !ret && addr < end; addr = next) {
		struct migrate_vma args = {
			.src = b->src,
			.dst = b->dst,
			.start = addr,
			.pgmap_owner = mdev,
			.flags = to_device ? hmm_mock_select_system(mdev) :
					     hmm_mock_select_device(mdev),
		};

		next = hmm_mock_batch_end(mdev, mirror->mm, addr, end, &vma);
		args.vma = vma;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		if (to_device)
			hmm_mock_fill_device_pages(mirror, &args, b);
		else
			hmm_mock_fill_system_pages(&args, b, mirror);
		migrate_vma_pages(&args);
		if (cpages)
			*cpages += hmm_mock_count_migrated(&args);
		hmm_mock_mirror_forget(mirror, addr, next);
		migrate_vma_finalize(&args);
	}
	return ret;
}

/*
 * The body of both migration ioctls over [start, end): one batch buffer,
 * the address space pinned, the mirror's own invalidations marked and the
 * VMAs checked once for the whole range. Moving to the device also maps
 * the pages that arrived in the device page table.
 */
static int hmm_mock_migrate(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long end, bool to_device, u64 *cpages)
{
	struct mm_struct *mm = mirror->mm;
	struct hmm_mock_migrate_batch *b;
	int ret;

	b = kmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	if (!mmget_not_zero(mm)) {
		kfree(b);
		return -EFAULT;
	}

	hmm_mock_mirror_begin_migration(mirror);
	mmap_read_lock(mm);
	ret = hmm_mock_check_vmas(mm, start, end);
	if (!ret)
		ret = hmm_mock_migrate_batches(mirror, start, end, b, to_device, cpages);
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_migration(mirror);

	if (!ret && to_device)
		ret = hmm_mock_mirror_map_device_pages(mirror, start, end);
	mmput(mm);
	kfree(b);
	return ret;
}

int hmm_mock_cmd_migrate_to_dev(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);
	int ret;

	ret = hmm_mock_migrate(mirror, cmd->addr, end, true, NULL);
	/* Report what is on the device now. */
	if (!ret)
		ret = hmm_mock_mirror_copy_out(mirror, cmd);
	return ret;
}

int hmm_mock_cmd_migrate_to_sys(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long end = cmd->addr + (cmd->npages << PAGE_SHIFT);

	return hmm_mock_migrate(mirror, cmd->addr, end, false, &cmd->cpages);
}

int hmm_mock_unshare_device_page(struct hmm_mock_mirror *mirror, unsigned long addr)
{
	struct mm_struct *mm = mirror->mm;
	struct hmm_mock_migrate_batch *b;
	struct vm_area_struct *vma;
	int ret;

	b = kmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return -ENOMEM;

	hmm_mock_mirror_begin_migration(mirror);
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & VM_WRITE))
		ret = -EPERM;
	else
		ret = hmm_mock_migrate_batches(mirror, addr, addr + PAGE_SIZE, b, false, NULL);
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_migration(mirror);
	kfree(b);
	return ret;
}

/*
 * CPU fault on a huge device page mapped by a PMD: move the whole folio
 * back, as a THP when one can be allocated, else as single pages.
 */
static vm_fault_t hmm_mock_fault_large(struct vm_fault *vmf, struct hmm_mock_device *mdev)
{
	struct hmm_mock_migrate_batch *b;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address & PMD_MASK,
		.end = (vmf->address & PMD_MASK) + PMD_SIZE,
		.pgmap_owner = mdev,
		.flags = hmm_mock_select_device(mdev),
		.fault_page = vmf->page,
	};
	vm_fault_t ret = 0;

	b = kmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return VM_FAULT_OOM;
	args.src = b->src;
	args.dst = b->dst;
	if (migrate_vma_setup(&args)) {
		kfree(b);
		return VM_FAULT_SIGBUS;
	}
	hmm_mock_fill_system_pages(&args, b, NULL);
	/* Not collected: someone else is moving the page; the fault retries. */
	if ((b->src[0] & MIGRATE_PFN_MIGRATE) && !b->dst[0])
		ret = VM_FAULT_OOM;
	migrate_vma_pages(&args);
	if (b->src[0] & MIGRATE_PFN_MIGRATE)
		atomic_long_inc(&mdev->cpu_faults);
	migrate_vma_finalize(&args);
	kfree(b);
	return ret;
}

vm_fault_t hmm_mock_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmm_mock_device *mdev = hmm_mock_page_device(vmf->page);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address & PAGE_MASK,
		.end = (vmf->address & PAGE_MASK) + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = mdev,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct page *dpage;
	vm_fault_t ret = 0;

	/*
	 * A PMD fault (no pte) on a large folio moves the folio; a large folio
	 * mapped by ptes (partly unmapped) moves page by page.
	 */
	if (hmm_mock_devmem_large(mdev) && !vmf->pte && folio_test_large(page_folio(vmf->page)))
		return hmm_mock_fault_large(vmf, mdev);

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	/* Not collected: someone else is moving the page; the fault retries. */
	if (src & MIGRATE_PFN_MIGRATE) {
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vmf->vma, vmf->address);
		if (dpage) {
			lock_page(dpage);
			hmm_mock_copy_to_new_page(dpage, vmf->page);
			dst = migrate_pfn(page_to_pfn(dpage));
			if (src & MIGRATE_PFN_WRITE)
				dst |= MIGRATE_PFN_WRITE;
		} else {
			ret = VM_FAULT_OOM;
		}
	}
	migrate_vma_pages(&args);
	if (src & MIGRATE_PFN_MIGRATE)
		atomic_long_inc(&mdev->cpu_faults);
	migrate_vma_finalize(&args);
	return ret;
}
