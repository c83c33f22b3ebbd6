// SPDX-License-Identifier: GPL-2.0
/*
 * Eviction: move every page of a device back to system memory, found by
 * pfn rather than by address, so it works whichever processes map the
 * pages and whether or not their files are still open. Used by
 * HMM_DMIRROR_RELEASE, by the last close of a device and at unload, so
 * that nothing a process put on the device is lost and no page outlives
 * the pagemap it belongs to.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>

#include "compat.h"
#include "hmm_mock.h"

/* Passes over a device before giving up on pages that stay busy. */
#define HMM_MOCK_EVICT_PASSES	50

/*
 * Arrays for one eviction window, each allocated on its own: with
 * __GFP_NOFAIL an allocation must stay within one page or two.
 */
struct hmm_mock_evict_batch {
	unsigned long *src;
	unsigned long *dst;
	struct page **fresh;
};

/* The largest window hmm_mock_evict_window() returns for @mdev. */
static unsigned long hmm_mock_evict_max(struct hmm_mock_device *mdev)
{
	return hmm_mock_devmem_large(mdev) ? HMM_MOCK_PMD_NR : HMM_MOCK_BATCH;
}

/*
 * A large folio moves into a THP: migrate_device_pages() cannot split it.
 * Without one it stays on the device for the next pass.
 */
static void hmm_mock_evict_large(struct hmm_mock_evict_batch *b, unsigned long i)
{
	struct page *spage = migrate_pfn_to_page(b->src[i]);
	struct folio *folio = hmm_mock_alloc_thp(NULL, 0);
	unsigned long j;

	if (!folio)
		return;
	folio_lock(folio);
	for (j = 0; j < HMM_MOCK_PMD_NR; j++)
		hmm_mock_copy_to_new_page(folio_page(folio, j), spage + j);
	b->dst[i] = migrate_pfn(folio_pfn(folio)) | HMM_MOCK_PFN_COMPOUND |
		    (b->src[i] & MIGRATE_PFN_WRITE);
}

/* Evicts @npages pages from @pfn; returns how many moved. */
static unsigned long hmm_mock_evict_range(struct hmm_mock_evict_batch *b,
					  unsigned long pfn, unsigned long npages)
{
	unsigned long i, want = 0, collected = 0, filled, used = 0, moved = 0;

	migrate_device_range(b->src, pfn, npages);
	for (i = 0; i < npages; i++) {
		b->dst[i] = 0;
		if (!(b->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		collected++;
		if (b->src[i] & HMM_MOCK_PFN_COMPOUND)
			hmm_mock_evict_large(b, i);
		else
			want++;
	}
	if (!collected)
		return 0;

	memset(b->fresh, 0, want * sizeof(b->fresh[0]));
	/* __GFP_NOFAIL is not allowed for bulk allocation: fill the gaps. */
	filled = want ? hmm_mock_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, want, b->fresh) : 0;
	for (; filled < want; filled++)
		b->fresh[filled] = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);

	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(b->src[i]);
		struct page *dpage;

		if (!spage || !(b->src[i] & MIGRATE_PFN_MIGRATE) ||
		    (b->src[i] & HMM_MOCK_PFN_COMPOUND))
			continue;
		dpage = b->fresh[used++];
		lock_page(dpage);
		hmm_mock_copy_to_new_page(dpage, spage);
		b->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (b->src[i] & MIGRATE_PFN_WRITE)
			b->dst[i] |= MIGRATE_PFN_WRITE;
	}
	migrate_device_pages(b->src, b->dst, npages);
	for (i = 0; i < npages; i++)
		if (b->src[i] & MIGRATE_PFN_MIGRATE)
			moved += b->src[i] & HMM_MOCK_PFN_COMPOUND ? HMM_MOCK_PMD_NR : 1;
	migrate_device_finalize(b->src, b->dst, npages);
	return moved;
}

static unsigned long hmm_mock_pages_in_use(struct hmm_mock_device *mdev)
{
	unsigned long in_use;

	spin_lock(&mdev->free_lock);
	in_use = mdev->pages_in_use;
	spin_unlock(&mdev->free_lock);
	return in_use;
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

int hmm_mock_evict_device(struct hmm_mock_device *mdev)
{
	struct hmm_mock_evict_batch batch, *b = &batch;
	unsigned long max = hmm_mock_evict_max(mdev);
	unsigned int pass, c;
	unsigned long i, n;

	if (!hmm_mock_pages_in_use(mdev))
		return 0;

	b->src = kmalloc_array(max, sizeof(*b->src), GFP_KERNEL | __GFP_NOFAIL);
	b->dst = kmalloc_array(max, sizeof(*b->dst), GFP_KERNEL | __GFP_NOFAIL);
	b->fresh = kmalloc_array(max, sizeof(*b->fresh), GFP_KERNEL | __GFP_NOFAIL);
	for (pass = 0; pass < HMM_MOCK_EVICT_PASSES; pass++) {
		if (pass)
			msleep(20);
		mutex_lock(&mdev->chunks_lock);
		for (c = 0; c < mdev->nchunks; c++) {
			unsigned long first = mdev->chunks[c]->first_pfn;

			for (i = 0; i < HMM_MOCK_CHUNK_PAGES; i += n) {
				unsigned long moved;

				n = hmm_mock_evict_window(mdev, first + i,
							  HMM_MOCK_CHUNK_PAGES - i);
				moved = hmm_mock_evict_range(b, first + i, n);
				atomic_long_add(moved, &mdev->evicted);
				cond_resched();
			}
		}
		mutex_unlock(&mdev->chunks_lock);
		if (!hmm_mock_pages_in_use(mdev))
			break;
	}
	kfree(b->fresh);
	kfree(b->dst);
	kfree(b->src);
	return hmm_mock_pages_in_use(mdev) ? -EBUSY : 0;
}
