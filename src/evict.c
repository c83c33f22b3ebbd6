// SPDX-License-Identifier: GPL-2.0
/*
 * Eviction: move every page of a device back to system memory, found by
 * pfn rather than by address, so it works whichever processes map the
 * pages and whether or not their files are still open. Used by
 * HMM_DMIRROR_RELEASE, by the last close of a device and at unload, so
 * that nothing a process put on the device is lost and no page outlives
 * the pagemap it belongs to.
 */
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "compat.h"
#include "devmem.h"
#include "hmm_mock.h"
#include "migrate.h"

/* Passes over a device before giving up on pages that stay busy. */
#define HMM_MOCK_EVICT_PASSES	50

/*
 * A long-term pin moves a device-coherent page out with the kernel's own
 * migration, which unlocks the old page before it drops its last
 * reference. An eviction that locks the page in between migrates a page
 * that is gone: its memcg has moved (DEBUG_VM warns in
 * mem_cgroup_migrate()) and its anon_vma may be freed. The driver's own
 * long-term pins (EXCLUSIVE before 6.15) take this for reading, eviction
 * windows for writing. Pins by others (io_uring, RDMA) race with
 * migrate_device_range() the same way; the kernel gives drivers no way
 * to tell such a page from a live one.
 */
static DECLARE_RWSEM(hmm_mock_longterm_pin_lock);

/**
 * hmm_mock_evict_hold_off() - keep eviction out while pinning long-term
 *
 * Pair with hmm_mock_evict_resume() once pin_user_pages(FOLL_LONGTERM)
 * returned: by then every page it moved out is freed. Caller may hold
 * mmap_lock.
 */
void hmm_mock_evict_hold_off(void)
{
	down_read(&hmm_mock_longterm_pin_lock);
}

/**
 * hmm_mock_evict_resume() - end hmm_mock_evict_hold_off()
 */
void hmm_mock_evict_resume(void)
{
	up_read(&hmm_mock_longterm_pin_lock);
}

/* The largest window hmm_mock_evict_window() returns for @mdev. */
static unsigned long hmm_mock_evict_max(struct hmm_mock_device *mdev)
{
	return hmm_mock_devmem_large(mdev) ? HMM_MOCK_PMD_NR : HMM_MOCK_BATCH;
}

/*
 * Pages from @pfn to evict in one go, at most @left: a batch, or up to
 * the next PMD-aligned pfn on devices with large folios, since
 * migrate_device_range() drops a folio that does not fit its window.
 */
static unsigned long hmm_mock_evict_window(struct hmm_mock_device *mdev, unsigned long pfn,
					   unsigned long left)
{
	if (!hmm_mock_devmem_large(mdev))
		return min(left, (unsigned long)HMM_MOCK_BATCH);
	return min(left, ALIGN(pfn + 1, HMM_MOCK_PMD_NR) - pfn);
}

/* Evicts @npages pages from @pfn; returns how many moved. */
static unsigned long hmm_mock_evict_range(unsigned long *src, unsigned long *dst,
					  unsigned long pfn, unsigned long npages)
{
	/* Nobody else can keep the data: allocation must not fail. */
	static const struct hmm_mock_sysmem_dst to = {
		.gfp = GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL,
	};
	unsigned long moved;

	down_write(&hmm_mock_longterm_pin_lock);
	migrate_device_range(src, pfn, npages);
	hmm_mock_fill_system_pages(&to, src, dst, npages, NULL);
	migrate_device_pages(src, dst, npages);
	moved = hmm_mock_vacate_moved(src, npages);
	migrate_device_finalize(src, dst, npages);
	up_write(&hmm_mock_longterm_pin_lock);
	return moved;
}

/*
 * One pass over the pages of @mdev in use, chunk by chunk. A window starts
 * at a page in use, which on devices with large folios is PMD-aligned when
 * it heads a large folio: a folio's pages are all taken at once.
 */
static void hmm_mock_evict_pass(struct hmm_mock_device *mdev, unsigned long *src,
				unsigned long *dst)
{
	unsigned long first, end, pfn, n;
	unsigned int c;

	for (c = 0; (first = hmm_mock_devmem_chunk_pfn(mdev, c)); c++) {
		end = first + HMM_MOCK_CHUNK_PAGES;
		for (pfn = first; (pfn = hmm_mock_devmem_next_in_use(mdev, pfn, end)) < end;
		     pfn += n) {
			n = hmm_mock_evict_window(mdev, pfn, end - pfn);
			atomic_long_add(hmm_mock_evict_range(src, dst, pfn, n), &mdev->evicted);
			cond_resched();
		}
	}
}

/**
 * hmm_mock_evict_device_once() - one pass of hmm_mock_evict_device()
 * @mdev: the device
 *
 * For retries spread out over time: no waiting for busy pages.
 *
 * Return: 0 when no device page is in use any more, -EBUSY otherwise.
 */
int hmm_mock_evict_device_once(struct hmm_mock_device *mdev)
{
	unsigned long max = hmm_mock_evict_max(mdev);
	unsigned long *src, *dst;

	if (!hmm_mock_devmem_in_use(mdev))
		return 0;
	src = kmalloc_array(max, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kmalloc_array(max, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);
	hmm_mock_evict_pass(mdev, src, dst);
	kfree(dst);
	kfree(src);
	return hmm_mock_devmem_in_use(mdev) ? -EBUSY : 0;
}

/**
 * hmm_mock_evict_device() - move all of a device's pages to system memory
 * @mdev: the device
 *
 * Uses migrate_device_range() over the pages in use of every chunk, so it
 * reaches pages by pfn whatever process maps them, and costs what is in
 * use rather than what the device ever added. Pages that are busy
 * (locked, migrating, pinned) are retried for a while. May sleep; caller
 * holds no mm lock.
 *
 * Return: 0 when no device page is in use any more, -EBUSY otherwise.
 */
int hmm_mock_evict_device(struct hmm_mock_device *mdev)
{
	unsigned long max = hmm_mock_evict_max(mdev);
	unsigned long *src, *dst;
	unsigned int pass;

	if (!hmm_mock_devmem_in_use(mdev))
		return 0;

	/* With __GFP_NOFAIL an allocation must stay within a page or two. */
	src = kmalloc_array(max, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kmalloc_array(max, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);
	for (pass = 0; pass < HMM_MOCK_EVICT_PASSES; pass++) {
		if (pass)
			msleep(20);
		hmm_mock_evict_pass(mdev, src, dst);
		if (!hmm_mock_devmem_in_use(mdev))
			break;
	}
	kfree(dst);
	kfree(src);
	return hmm_mock_devmem_in_use(mdev) ? -EBUSY : 0;
}
