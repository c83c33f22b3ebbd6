/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the device memory layer: chunk.c creates and removes chunks and
 * finds a page's chunk and contents; devmem.c builds the free lists and the
 * life cycle of device pages on top; devmem_walk.c reads them for walks by
 * pfn and introspection. Nothing outside the layer includes this.
 */
#ifndef _HMM_MOCK_CHUNK_H
#define _HMM_MOCK_CHUNK_H

#include <linux/memremap.h>
#include <uapi/hmm_mock.h>

#include "hmm_mock.h"

/**
 * struct hmm_mock_chunk - one piece of device memory and its struct pages
 * @pagemap:	the ZONE_DEVICE pagemap; @pagemap.owner is the device
 * @mdev:	device the chunk belongs to
 * @first_pfn:	pfn of the chunk's first page
 * @backing:	device-private chunks: for each page, the system page that
 *		holds its contents (allocated on first use, kept while the
 *		chunk exists); NULL for coherent chunks, whose pages are
 *		ordinary CPU-addressable memory
 * @free_map:	pages on a free list, one bit per page (devmem.c, under
 *		mdev->mem.free_lock); for eviction, HMM_MOCK_PAGE_INFO and
 *		HMM_MOCK_CHECK_FREE
 * @run_map:	first pages of the free runs on the large free list
 */
struct hmm_mock_chunk {
	struct dev_pagemap pagemap;
	struct hmm_mock_device *mdev;
	unsigned long first_pfn;
	struct page **backing;
	DECLARE_BITMAP(free_map, HMM_MOCK_CHUNK_PAGES);
	DECLARE_BITMAP(run_map, HMM_MOCK_CHUNK_PAGES);
};

static inline bool hmm_mock_is_private(struct hmm_mock_device *mdev)
{
	return mdev->mem_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
}

/* Index of @page in its chunk's free_map and run_map. */
static inline unsigned long hmm_mock_chunk_index(struct hmm_mock_chunk *chunk, struct page *page)
{
	return page_to_pfn(page) - chunk->first_pfn;
}

struct hmm_mock_chunk *hmm_mock_page_chunk(struct page *page);
struct page **hmm_mock_chunk_backing(struct page *page);
unsigned int hmm_mock_alloc_backing(struct page **fresh, unsigned int n);
bool hmm_mock_chunk_back_large(struct page *head);
unsigned int hmm_mock_max_chunks(struct hmm_mock_device *mdev);
struct hmm_mock_chunk *hmm_mock_chunk_create(struct hmm_mock_device *mdev, unsigned int index,
					     const struct dev_pagemap_ops *ops);
void hmm_mock_chunk_destroy(struct hmm_mock_chunk *chunk);

#endif /* _HMM_MOCK_CHUNK_H */
