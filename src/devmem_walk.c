// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory, layer 1: reading the free lists from outside the page
 * life cycle (written out at the top of devmem.c). Walks by pfn that
 * skip free pages, for eviction, and the counters and checks behind
 * HMM_MOCK_STATS, HMM_MOCK_PAGE_INFO and HMM_MOCK_CHECK_FREE.
 */
#include <linux/bitmap.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <uapi/hmm_mock.h>

#include "compat.h"
#include "chunk.h"
#include "devmem.h"

/**
 * hmm_mock_devmem_chunk_pfn() - where a chunk of device memory starts
 * @mdev:	the device
 * @c:		chunk number, from 0
 *
 * Chunks are only added while the device exists, so a pfn returned stays
 * valid until hmm_mock_devmem_fini(). Used to reach every device page by
 * pfn, whoever maps it.
 *
 * Return: the pfn of the first of chunk @c's HMM_MOCK_CHUNK_PAGES pages,
 * or 0 when the device has fewer than @c + 1 chunks.
 */
unsigned long hmm_mock_devmem_chunk_pfn(struct hmm_mock_device *mdev, unsigned int c)
{
	unsigned long pfn = 0;

	mutex_lock(&mdev->mem.chunks_lock);
	if (c < mdev->mem.nchunks)
		pfn = mdev->mem.chunks[c]->first_pfn;
	mutex_unlock(&mdev->mem.chunks_lock);
	return pfn;
}

/**
 * hmm_mock_devmem_next_in_use() - the next device page that is not free
 * @mdev:	the device
 * @pfn:	where to start, in a chunk of @mdev
 * @end:	the end of that chunk, or a pfn before it
 *
 * Lets a walk by pfn (eviction) skip the free pages, so that it costs what
 * is in use, not what the device ever added. A page handed out after the
 * call may be missed: walks that must see every page repeat until
 * hmm_mock_devmem_in_use() finds none.
 *
 * Return: the first pfn from @pfn before @end whose page is on no free
 * list, or @end when there is none.
 */
unsigned long hmm_mock_devmem_next_in_use(struct hmm_mock_device *mdev, unsigned long pfn,
					  unsigned long end)
{
	struct hmm_mock_chunk *chunk;
	unsigned long i;

	if (pfn >= end)
		return end;
	chunk = hmm_mock_page_chunk(pfn_to_page(pfn));
	spin_lock(&mdev->mem.free_lock);
	i = find_next_zero_bit(chunk->free_map, end - chunk->first_pfn, pfn - chunk->first_pfn);
	spin_unlock(&mdev->mem.free_lock);
	return chunk->first_pfn + i;
}

/**
 * hmm_mock_devmem_in_use() - device pages handed out and not yet freed
 * @mdev: the device
 *
 * Return: the number of such pages at the time of the call.
 */
unsigned long hmm_mock_devmem_in_use(struct hmm_mock_device *mdev)
{
	unsigned long in_use;

	spin_lock(&mdev->mem.free_lock);
	in_use = mdev->mem.pages_in_use;
	spin_unlock(&mdev->mem.free_lock);
	return in_use;
}

/**
 * hmm_mock_devmem_free_pages() - device pages on the free lists
 * @mdev: the device
 *
 * Return: the number of such pages at the time of the call.
 */
unsigned long hmm_mock_devmem_free_pages(struct hmm_mock_device *mdev)
{
	unsigned long free;

	spin_lock(&mdev->mem.free_lock);
	free = mdev->mem.pages_free;
	spin_unlock(&mdev->mem.free_lock);
	return free;
}

/**
 * hmm_mock_devmem_stats() - read a device's memory counters
 * @mdev:	the device
 * @stats:	its memory fields are filled in, the others left alone
 */
void hmm_mock_devmem_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats)
{
	mutex_lock(&mdev->mem.chunks_lock);
	stats->chunks = mdev->mem.nchunks;
	stats->pages_total = (u64)mdev->mem.nchunks * HMM_MOCK_CHUNK_PAGES;
	mutex_unlock(&mdev->mem.chunks_lock);

	spin_lock(&mdev->mem.free_lock);
	stats->pages_free = mdev->mem.pages_free;
	stats->pages_in_use = mdev->mem.pages_in_use;
	stats->page_frees = mdev->mem.page_frees;
	stats->large_free = mdev->mem.large_free;
	stats->large_allocs = mdev->mem.large_allocs;
	spin_unlock(&mdev->mem.free_lock);
	stats->large_folio_pages = hmm_mock_devmem_large(mdev) ? HMM_MOCK_PMD_NR : 0;
	stats->folio_splits = atomic_long_read(&mdev->mem.folio_splits);
}

/**
 * hmm_mock_devmem_listed_free() - whether a device page is on a free list
 * @page: a device page of hmm-mock
 *
 * Return: true if the free lists hold @page (alone or in a free run).
 */
bool hmm_mock_devmem_listed_free(struct page *page)
{
	struct hmm_mock_chunk *chunk = hmm_mock_page_chunk(page);
	struct hmm_mock_device *mdev = chunk->mdev;
	bool listed;

	spin_lock(&mdev->mem.free_lock);
	listed = test_bit(hmm_mock_chunk_index(chunk, page), chunk->free_map);
	spin_unlock(&mdev->mem.free_lock);
	return listed;
}

/* Checks the free pages of one chunk, under free_lock. */
static void hmm_mock_check_free_chunk(struct hmm_mock_chunk *chunk, struct hmm_mock_free_check *chk)
{
	unsigned long i;

	for_each_set_bit(i, chunk->free_map, HMM_MOCK_CHUNK_PAGES) {
		unsigned long pfn = chunk->first_pfn + i;
		unsigned long head = ALIGN_DOWN(pfn, HMM_MOCK_PMD_NR);
		struct page *page = pfn_to_page(pfn);

		chk->free++;
		chk->referenced += !!page_ref_count(page);
		/* Tail pages of a free run keep folio metadata in ->mapping. */
		if (head != pfn && head >= chunk->first_pfn &&
		    test_bit(head - chunk->first_pfn, chunk->run_map))
			continue;
		chk->stale_mapping += !!page->mapping;
	}
}

/**
 * hmm_mock_devmem_check_free() - check every page on a device's free lists
 * @mdev:	the device
 * @chk:	filled in
 *
 * One chunk at a time, so the free lists stay usable meanwhile; the
 * counts add up moments that differ per chunk.
 *
 * Return: 0, or -EINTR on a fatal signal.
 */
int hmm_mock_devmem_check_free(struct hmm_mock_device *mdev, struct hmm_mock_free_check *chk)
{
	struct hmm_mock_chunk *chunk;
	unsigned int c;

	memset(chk, 0, sizeof(*chk));
	for (c = 0; ; c++) {
		mutex_lock(&mdev->mem.chunks_lock);
		chunk = c < mdev->mem.nchunks ? mdev->mem.chunks[c] : NULL;
		mutex_unlock(&mdev->mem.chunks_lock);
		if (!chunk)
			return 0;
		spin_lock(&mdev->mem.free_lock);
		hmm_mock_check_free_chunk(chunk, chk);
		spin_unlock(&mdev->mem.free_lock);
		if (fatal_signal_pending(current))
			return -EINTR;
		cond_resched();
	}
}
