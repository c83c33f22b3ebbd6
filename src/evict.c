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

struct hmm_mock_evict_batch {
	unsigned long src[HMM_MOCK_BATCH];
	unsigned long dst[HMM_MOCK_BATCH];
	struct page *fresh[HMM_MOCK_BATCH];
};

/* Evicts @npages pages from @pfn; returns how many moved. */
static unsigned long hmm_mock_evict_range(struct hmm_mock_evict_batch *b,
					  unsigned long pfn, unsigned long npages)
{
	unsigned long i, want = 0, filled, used = 0, moved = 0;

	migrate_device_range(b->src, pfn, npages);
	for (i = 0; i < npages; i++)
		if (b->src[i] & MIGRATE_PFN_MIGRATE)
			want++;
	if (!want)
		return 0;

	memset(b->fresh, 0, sizeof(b->fresh));
	/* __GFP_NOFAIL is not allowed for bulk allocation: fill the gaps. */
	filled = hmm_mock_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, want, b->fresh);
	for (; filled < want; filled++)
		b->fresh[filled] = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);

	for (i = 0; i < npages; i++) {
		struct page *spage = migrate_pfn_to_page(b->src[i]);
		struct page *dpage;

		b->dst[i] = 0;
		if (!spage || !(b->src[i] & MIGRATE_PFN_MIGRATE))
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
			moved++;
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

int hmm_mock_evict_device(struct hmm_mock_device *mdev)
{
	struct hmm_mock_evict_batch *b;
	unsigned int pass, c;
	unsigned long i;

	if (!hmm_mock_pages_in_use(mdev))
		return 0;

	b = kmalloc(sizeof(*b), GFP_KERNEL | __GFP_NOFAIL);
	for (pass = 0; pass < HMM_MOCK_EVICT_PASSES; pass++) {
		if (pass)
			msleep(20);
		mutex_lock(&mdev->chunks_lock);
		for (c = 0; c < mdev->nchunks; c++) {
			unsigned long first = mdev->chunks[c]->first_pfn;

			for (i = 0; i < HMM_MOCK_CHUNK_PAGES; i += HMM_MOCK_BATCH) {
				unsigned long moved;

				moved = hmm_mock_evict_range(b, first + i, HMM_MOCK_BATCH);
				atomic_long_add(moved, &mdev->evicted);
				cond_resched();
			}
		}
		mutex_unlock(&mdev->chunks_lock);
		if (!hmm_mock_pages_in_use(mdev))
			break;
	}
	kfree(b);
	return hmm_mock_pages_in_use(mdev) ? -EBUSY : 0;
}
