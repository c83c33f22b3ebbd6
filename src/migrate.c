// SPDX-License-Identifier: GPL-2.0
/*
 * Migration of a mirror's address range between system memory and device
 * memory through migrate_vma_setup/pages/finalize, in both directions.
 *
 * Ranges are processed in PMD-aligned windows with the pfn arrays in one
 * per-command allocation, and each window takes its device pages off the
 * free list in batches of HMM_MOCK_BATCH. A window that large costs one
 * invalidation and TLB flush for up to a PMD's worth of pages, and on
 * devices that hand out large folios (hmm_mock_devmem_large())
 * migrate_vma_setup() with MIGRATE_VMA_SELECT_COMPOUND can collect a THP
 * or a huge device page as one entry (MIGRATE_PFN_COMPOUND), which then
 * moves as one folio. When no large device folio can be had for a THP,
 * or no THP for a large device folio, the window runs again page by page,
 * so that the kernel splits the folio while it is mapped (see
 * hmm_mock_migrate_windows()).
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
#include "devmem.h"
#include "migrate.h"
#include "mirror.h"

/* Largest migration window: a PMD's worth of pages or a batch. */
#define HMM_MOCK_WINDOW_MAX	MAX(HMM_MOCK_BATCH, HMM_MOCK_PMD_NR)

/* A window's arrays and a batch of device pages, one allocation a command. */
struct hmm_mock_migrate_batch {
	unsigned long src[HMM_MOCK_WINDOW_MAX];
	unsigned long dst[HMM_MOCK_WINDOW_MAX];
	struct page *pages[HMM_MOCK_BATCH];
	bool short_small;	/* the window ran out of free device pages */
	bool short_large;	/* ... of free runs, for a THP */
	bool at_cap;		/* growing failed: take what is free */
	bool again;		/* the window runs again after a growth */
	bool split_large;	/* a THP or large device folio goes by page */
	bool by_page;		/* ... so the window runs again that way */
	bool fail_first;	/* HMM_DMIRROR_FLAG_FAIL_ALLOC hit the window */
};

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
 * End of the window starting at @addr: the next PMD boundary, so a THP is
 * never cut in two and each migrate_vma_setup() (an invalidation and a TLB
 * flush) covers up to a PMD's worth of pages.
 */
static unsigned long hmm_mock_window_end(struct mm_struct *mm, unsigned long addr,
					 unsigned long end, struct vm_area_struct **vma)
{
	unsigned long next = ALIGN_DOWN(addr, PMD_SIZE) + PMD_SIZE;

	*vma = vma_lookup(mm, addr);
	return min3(end, (*vma)->vm_end, next);
}

/* Fault injection: the first allocation after HMM_DMIRROR_FLAGS fails. */
static bool hmm_mock_fail_alloc(struct hmm_mock_mirror *mirror)
{
	if (!(READ_ONCE(mirror->flags) & HMM_DMIRROR_FLAG_FAIL_ALLOC))
		return false;
	WRITE_ONCE(mirror->flags, mirror->flags & ~HMM_DMIRROR_FLAG_FAIL_ALLOC);
	/* Used up here: the CPU fault no longer inherits it. */
	atomic_set(&mirror->mdev->inject.fault_no_thp, 0);
	return true;
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
 * Gives the collected entries in [@first, @end) single device pages, in
 * batches. Entries left without one (device memory exhausted) stay where
 * they are.
 */
static void hmm_mock_fill_device_run(struct hmm_mock_device *mdev, struct migrate_vma *args,
				     struct hmm_mock_migrate_batch *b, unsigned long first,
				     unsigned long end)
{
	struct page **pages = b->pages;
	unsigned long idx[HMM_MOCK_BATCH], i = first;
	unsigned int want, got, k;

	while (i < end) {
		for (want = 0; i < end && want < HMM_MOCK_BATCH; i++)
			if (args->src[i] & MIGRATE_PFN_MIGRATE)
				idx[want++] = i;
		if (!want)
			return;
		got = hmm_mock_devmem_alloc(mdev, want, pages);
		for (k = 0; k < got; k++) {
			unsigned long src = args->src[idx[k]];

			hmm_mock_devmem_copy_in(pages[k], migrate_pfn_to_page(src));
			args->dst[idx[k]] = hmm_mock_device_pfn(args, src, pages[k]);
		}
		if (got < want) {
			b->short_small = true;
			return;
		}
	}
}

/* Takes back the device pages handed to entries [@first, @end). */
static void hmm_mock_unfill(struct migrate_vma *args, unsigned long first, unsigned long end)
{
	unsigned long i;

	for (i = first; i < end; i++) {
		struct page *dpage = migrate_pfn_to_page(args->dst[i]);

		args->dst[i] = 0;
		if (dpage) {
			unlock_page(dpage);
			put_page(dpage);
		}
	}
}

/*
 * A collected huge hole at entry @i that gets no large device folio: each
 * of its pages gets a single zeroed page, which the kernel maps one by
 * one. All of them or none: the kernel populates each page of the hole.
 */
static void hmm_mock_fill_device_hole(struct hmm_mock_device *mdev, struct migrate_vma *args,
				      struct hmm_mock_migrate_batch *b, unsigned long i)
{
	struct page **pages = b->pages;
	unsigned long src = args->src[i], nr = min(HMM_MOCK_PMD_NR, args->npages - i), j, k;
	unsigned int want, got;

	for (j = 0; j < nr; j += want) {
		want = min_t(unsigned long, nr - j, HMM_MOCK_BATCH);
		got = hmm_mock_devmem_alloc(mdev, want, pages);
		for (k = 0; k < got; k++) {
			hmm_mock_devmem_copy_in(pages[k], NULL);
			args->dst[i + j + k] = hmm_mock_device_pfn(args, src, pages[k]);
		}
		if (got < want) {
			b->short_small = true;
			hmm_mock_unfill(args, i, i + nr);
			return;
		}
	}
}

/* Moves a collected THP (or huge hole) at entry @i into one device folio. */
static bool hmm_mock_fill_device_large(struct hmm_mock_device *mdev, struct migrate_vma *args,
				       unsigned long i)
{
	struct page *spage = migrate_pfn_to_page(args->src[i]);
	struct page *dhead = hmm_mock_devmem_alloc_large(mdev);
	unsigned long j;

	if (!dhead)
		return false;
	for (j = 0; j < HMM_MOCK_PMD_NR; j++)
		hmm_mock_devmem_copy_in(dhead + j, spage ? spage + j : NULL);
	args->dst[i] = hmm_mock_device_pfn(args, args->src[i], dhead) | HMM_MOCK_PFN_COMPOUND;
	return true;
}

/* Whether a collected entry of the window has every flag of @mask. */
static bool hmm_mock_window_has(const struct migrate_vma *args, unsigned long mask)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_MIGRATE) && (args->src[i] & mask) == mask)
			return true;
	return false;
}

/*
 * Gives each collected system page a device page with the same contents:
 * a THP gets one large device folio; once the device cannot grow, a huge
 * hole gets single pages and a THP none (b->split_large: the window runs
 * again page by page, if any page is free, rather than split the THP for
 * nothing). Pages left without one stay where they are, and the batch
 * says what ran short, for hmm_mock_migrate_windows() to grow the device
 * and move them. HMM_DMIRROR_FLAG_FAIL_ALLOC fails the first allocation
 * of the window: a large one falls back to single pages, single pages are
 * not moved.
 */
static void hmm_mock_fill_device_pages(struct hmm_mock_mirror *mirror, struct migrate_vma *args,
				       struct hmm_mock_migrate_batch *b)
{
	struct hmm_mock_device *mdev = mirror->mdev;
	unsigned long i, nr, first = 0;
	bool fail;

	for (i = 0; i < args->npages; i++)
		args->dst[i] = 0;
	if (!hmm_mock_window_has(args, MIGRATE_PFN_MIGRATE))
		return;
	/* An injected failure holds for every run of the window. */
	fail = b->again ? b->fail_first : hmm_mock_fail_alloc(mirror);
	b->fail_first = fail;

	for (i = 0; i < args->npages; i += nr) {
		nr = 1;
		if (!(args->src[i] & HMM_MOCK_PFN_COMPOUND) ||
		    !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (i > first) {
			if (!fail)
				hmm_mock_fill_device_run(mdev, args, b, first, i);
			fail = false;
		}
		nr = min(HMM_MOCK_PMD_NR, args->npages - i);
		if (!fail && !hmm_mock_fill_device_large(mdev, args, i) && !b->at_cap)
			b->short_large = true;	/* moves once the device grew */
		else if (!args->dst[i] && !migrate_pfn_to_page(args->src[i]))
			hmm_mock_fill_device_hole(mdev, args, b, i);
		else if (!args->dst[i])
			b->split_large = fail || hmm_mock_devmem_free_pages(mdev);
		fail = false;
		first = i + nr;
	}
	if (first < args->npages && !fail)
		hmm_mock_fill_device_run(mdev, args, b, first, args->npages);
}

/*
 * Gives each collected device page a new system page with its contents. A
 * large device folio that gets no THP stays (b->split_large), and the
 * window runs again page by page. HMM_DMIRROR_FLAG_FAIL_ALLOC makes a
 * large device folio of the window find no THP, so it moves as single
 * pages.
 */
static void hmm_mock_fill_system_window(struct hmm_mock_mirror *mirror, struct migrate_vma *args,
					struct hmm_mock_migrate_batch *b)
{
	struct hmm_mock_sysmem_dst to = {
		.vma = args->vma,
		.start = args->start,
		.gfp = GFP_HIGHUSER_MOVABLE,
	};
	unsigned long whole;

	to.no_thp = HMM_MOCK_LARGE_FOLIOS &&
		    hmm_mock_window_has(args, MIGRATE_PFN_MIGRATE | HMM_MOCK_PFN_COMPOUND) &&
		    hmm_mock_fail_alloc(mirror);
	hmm_mock_fill_system_pages(&to, args->src, args->dst, args->npages, &whole);
	b->split_large = whole;
}

/**
 * struct hmm_mock_direction - one direction of a range migration
 * @select:	migrate_vma flags selecting the source pages
 * @fill:	gives collected entries their destination pages
 */
struct hmm_mock_direction {
	unsigned long (*select)(struct hmm_mock_device *mdev);
	void (*fill)(struct hmm_mock_mirror *mirror, struct migrate_vma *args,
		     struct hmm_mock_migrate_batch *b);
};

static const struct hmm_mock_direction hmm_mock_to_device = {
	.select	= hmm_mock_select_system,
	.fill	= hmm_mock_fill_device_pages,
};

static const struct hmm_mock_direction hmm_mock_to_system = {
	.select	= hmm_mock_select_device,
	.fill	= hmm_mock_fill_system_window,
};

/*
 * A window ran short of device memory: grows the device by a chunk with
 * mmap_lock dropped (hmm_mock_devmem_grow() may not run under it), then
 * checks [@addr, @end) again, which may have changed meanwhile. At the
 * cap, the batch takes what is free from then on.
 *
 * Return: 1 when the device grew, 0 when it did not, or -errno; mmap_lock
 * is held again in every case.
 */
static int hmm_mock_grow_unlocked(struct hmm_mock_mirror *mirror, struct hmm_mock_migrate_batch *b,
				  unsigned long addr, unsigned long end)
{
	struct mm_struct *mm = mirror->mm;
	int grew, ret;

	mmap_read_unlock(mm);
	lockdep_assert_not_held(&mm->mmap_lock);
	grew = hmm_mock_devmem_grow(mirror->mdev, b->short_large && !b->short_small);
	if (grew < 0) {
		b->at_cap = true;
		grew = 0;
	}
	mmap_read_lock(mm);
	if (fatal_signal_pending(current))
		return -EINTR;
	ret = hmm_mock_check_vmas(mm, addr, end);
	return ret ?: grew;
}

/*
 * Whether the window at @addr runs again: after the device grew, or once
 * without (memory freed meanwhile; just at the cap, where THPs move as
 * single pages), never more, since pages that cannot migrate at all
 * (shared, pinned) come back to the free list every time. Past the cap
 * the fill already took what was free: no window runs again. Returns 1
 * to run it again, 0 to go on, or -errno.
 */
static int hmm_mock_window_again(struct hmm_mock_mirror *mirror, struct hmm_mock_migrate_batch *b,
				 unsigned long addr, unsigned long end, bool *retried)
{
	int grew;

	if ((!b->short_small && !b->short_large) || b->at_cap)
		return 0;
	grew = hmm_mock_grow_unlocked(mirror, b, addr, end);
	if (grew < 0)
		return grew;
	if (grew)
		return 1;
	if (*retried)
		return 0;
	*retried = true;
	return 1;
}

/*
 * Moves the pages of [start, end) in direction @dir, one window at a time;
 * @moved, if given, counts the pages that moved. The caller holds
 * mmap_lock and checked the VMAs; a window that runs short of device
 * memory drops it to grow the device and runs again (mmap_lock is held
 * on return either way). The device page table needs no update:
 * migrate_vma_setup()'s invalidation clears it before any page is copied,
 * like any other.
 *
 * A THP that gets no large device folio, or a large device folio that
 * gets no THP, is not given single pages, which would make the kernel
 * split it after unmapping it. 7.3 splits only the PMD of args.vma then,
 * and gets a folio that another process maps too (after fork) wrong: a
 * THP is left half migrated (the caller's device WRITE fails with -EBUSY
 * and its CPU access waits until it is killed), and a device folio oopses
 * the rmap walk that restores the mappings. The window runs again
 * collecting page by page, which splits the folio while it is mapped.
 */
static int hmm_mock_migrate_windows(struct hmm_mock_mirror *mirror, unsigned long start,
				    unsigned long end, struct hmm_mock_migrate_batch *b,
				    const struct hmm_mock_direction *dir, u64 *moved)
{
	struct hmm_mock_device *mdev = mirror->mdev;
	struct vm_area_struct *vma;
	unsigned long addr, next, n;
	bool retried = false;
	int ret = 0;

	b->at_cap = false;
	b->again = false;
	b->by_page = false;
	for (addr = start; addr < end; addr = next) {
		struct migrate_vma args = {
			.src = b->src,
			.dst = b->dst,
			.start = addr,
			.pgmap_owner = mdev,
			.flags = dir->select(mdev),
		};

		if (fatal_signal_pending(current))
			return -EINTR;
		next = hmm_mock_window_end(mirror->mm, addr, end, &vma);
		args.vma = vma;
		args.end = next;
		if (b->by_page)
			args.flags &= ~HMM_MOCK_SELECT_COMPOUND;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		b->short_small = false;
		b->short_large = false;
		b->split_large = false;
		dir->fill(mirror, &args, b);
		migrate_vma_pages(&args);
		n = hmm_mock_vacate_moved(args.src, args.npages);
		if (moved)
			*moved += n;
		migrate_vma_finalize(&args);
		if (b->split_large && !b->by_page) {
			/* The next run splits the folio: an injected failure is spent. */
			b->fail_first = false;
			ret = 1;
		} else {
			ret = hmm_mock_window_again(mirror, b, addr, end, &retried);
			if (ret < 0)
				break;
		}
		b->by_page = b->by_page || b->split_large;
		b->again = ret;
		if (b->again) {
			next = addr;
		} else {
			retried = false;
			b->by_page = false;
		}
		ret = 0;
		cond_resched();
	}
	return ret;
}

/*
 * The body of both range migrations: one batch buffer, the address space
 * pinned and the VMAs checked once for the whole range.
 */
static int hmm_mock_migrate(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long end, const struct hmm_mock_direction *dir, u64 *moved)
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

	mmap_read_lock(mm);
	ret = hmm_mock_check_vmas(mm, start, end);
	if (!ret)
		ret = hmm_mock_migrate_windows(mirror, start, end, b, dir, moved);
	mmap_read_unlock(mm);

	mmput(mm);
	kfree(b);
	return ret;
}

/**
 * hmm_mock_migrate_to_device() - move a range of a mirror's process to its device
 * @mirror:	the mirror
 * @start:	first address, page aligned
 * @end:	end address (exclusive)
 *
 * Pages that cannot move (shared, pinned, on another device, device memory
 * exhausted) stay where they are; the device page table then maps every
 * page of the range that is on the device. Caller holds no mm lock.
 *
 * Return: 0, -EINVAL when part of the range is not a mapping migration
 * accepts (nothing moved then, unless the mappings changed while the
 * device grew), -EINTR on a fatal signal, or -errno.
 */
int hmm_mock_migrate_to_device(struct hmm_mock_mirror *mirror, unsigned long start,
			       unsigned long end)
{
	unsigned long readonly;
	int ret;

	ret = hmm_mock_migrate(mirror, start, end, &hmm_mock_to_device, NULL);
	/*
	 * Mapped by a new hmm_range_fault(), not from the windows' results
	 * as test_hmm.ko does: an invalidation between migrate_vma_pages()
	 * and that install (MADV_DONTNEED takes mmap_lock only for reading)
	 * would leave the device a page the CPU no longer maps, and ruling
	 * one out takes a notifier sequence read after migrate_vma_setup(),
	 * which may sleep while the window's pages are locked.
	 */
	if (!ret)
		ret = hmm_mock_mirror_fault(mirror, start, end, HMM_MOCK_DEVICE_ONLY, &readonly);
	return ret;
}

/**
 * hmm_mock_migrate_to_system() - move a range of a mirror's process back
 * @mirror:	the mirror
 * @start:	first address, page aligned
 * @end:	end address (exclusive)
 * @moved:	increased by the number of pages moved
 *
 * Moves the pages of @mirror's device in the range to system memory;
 * caller holds no mm lock.
 *
 * Return: 0, -EINVAL when part of the range is not a mapping migration
 * accepts (nothing moved then), -EINTR on a fatal signal, or -errno.
 */
int hmm_mock_migrate_to_system(struct hmm_mock_mirror *mirror, unsigned long start,
			       unsigned long end, u64 *moved)
{
	return hmm_mock_migrate(mirror, start, end, &hmm_mock_to_system, moved);
}

/**
 * hmm_mock_migrate_unshare() - prepare a device page for a device write
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
int hmm_mock_migrate_unshare(struct hmm_mock_mirror *mirror, unsigned long addr)
{
	struct mm_struct *mm = mirror->mm;
	struct hmm_mock_migrate_batch *b;
	struct vm_area_struct *vma;
	int ret;

	b = kmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return -ENOMEM;

	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & VM_WRITE))
		ret = -EPERM;
	else
		ret = hmm_mock_migrate_windows(mirror, addr, addr + PAGE_SIZE, b,
					       &hmm_mock_to_system, NULL);
	mmap_read_unlock(mm);
	kfree(b);
	return ret;
}
