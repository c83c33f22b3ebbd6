// SPDX-License-Identifier: GPL-2.0
/*
 * Chunks of device memory: ZONE_DEVICE pagemaps added with
 * memremap_pages(), private ones on physical addresses nothing else uses,
 * coherent ones on the range the administrator reserved; and where each
 * page's contents live.
 */
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>

#include "compat.h"
#include "chunk.h"

static unsigned int devmem_max_mb = 512;
module_param(devmem_max_mb, uint, 0644);
MODULE_PARM_DESC(devmem_max_mb,
		 "Cap on each device's memory in MiB, read whenever a device grows (default 512)");

/**
 * hmm_mock_page_chunk() - the chunk a device page of hmm-mock belongs to
 * @page: a device page of hmm-mock
 *
 * Return: its chunk.
 */
struct hmm_mock_chunk *hmm_mock_page_chunk(struct page *page)
{
	return container_of(hmm_mock_page_pgmap(page), struct hmm_mock_chunk, pagemap);
}

/**
 * hmm_mock_chunk_backing() - where a private page's backing page is kept
 * @page: a device-private page of hmm-mock
 *
 * Return: the slot, NULL until the page is first handed out.
 */
struct page **hmm_mock_chunk_backing(struct page *page)
{
	struct hmm_mock_chunk *chunk = hmm_mock_page_chunk(page);

	return &chunk->backing[page_to_pfn(page) - chunk->first_pfn];
}

/**
 * hmm_mock_alloc_backing() - allocate system pages to hold device contents
 * @fresh:	array of @n NULL entries, filled from the front
 * @n:		pages wanted
 *
 * The bulk allocator may return fewer than asked even when memory is
 * there (it only takes what the per-CPU lists have): the rest come one by
 * one.
 *
 * Return: how many pages are at the front of @fresh.
 */
unsigned int hmm_mock_alloc_backing(struct page **fresh, unsigned int n)
{
	unsigned int got = hmm_mock_alloc_pages_bulk(GFP_HIGHUSER, n, fresh);

	for (; got < n; got++) {
		fresh[got] = alloc_page(GFP_HIGHUSER);
		if (!fresh[got])
			break;
	}
	return got;
}

/**
 * hmm_mock_chunk_back_large() - backing pages for a whole large folio
 * @head: first page of a PMD-aligned run of device-private pages
 *
 * Allocated in batches the first time its pages are used. On failure the
 * pages that got one keep it.
 *
 * Return: true when every page of the run has backing memory.
 */
bool hmm_mock_chunk_back_large(struct page *head)
{
	struct page **backing = hmm_mock_chunk_backing(head);
	struct page *fresh[HMM_MOCK_BATCH];
	unsigned long i, j, missing, filled, used;

	for (i = 0; i < HMM_MOCK_PMD_NR; i += HMM_MOCK_BATCH) {
		for (j = 0, missing = 0; j < HMM_MOCK_BATCH; j++)
			missing += !backing[i + j];
		if (!missing)
			continue;
		memset(fresh, 0, sizeof(fresh));
		filled = hmm_mock_alloc_backing(fresh, missing);
		for (j = 0, used = 0; j < HMM_MOCK_BATCH && used < filled; j++)
			if (!backing[i + j])
				backing[i + j] = fresh[used++];
		if (filled < missing)
			return false;
	}
	return true;
}

/**
 * hmm_mock_devmem_data() - the memory holding a page's contents
 * @page: a device page of hmm-mock, or any ordinary page
 *
 * The CPU cannot address device-private memory, so the mock keeps each
 * private page's contents in a system page of its own.
 *
 * Return: the backing page of a device-private page, @page itself for
 * device-coherent and ordinary pages.
 */
struct page *hmm_mock_devmem_data(struct page *page)
{
	if (!is_device_private_page(page))
		return page;
	return *hmm_mock_chunk_backing(page);
}

/**
 * hmm_mock_devmem_copy_in() - fill a device page, as the device's DMA would
 * @dpage:	an allocated device page
 * @spage:	the system page to copy, or NULL for zeroes
 */
void hmm_mock_devmem_copy_in(struct page *dpage, struct page *spage)
{
	struct page *data = hmm_mock_devmem_data(dpage);

	if (spage)
		copy_highpage(data, spage);
	else
		clear_highpage(data);
}

/**
 * hmm_mock_devmem_copy_out() - copy a device page to a system page
 * @dst:	the new system page
 * @dpage:	the device page
 *
 * A real device copies with DMA, which can fail; the mock fails when
 * HMM_MOCK_INJECT armed it. The caller then leaves @dpage where it is.
 *
 * Return: 0, or -EIO when the copy failed and @dst holds garbage.
 */
int hmm_mock_devmem_copy_out(struct page *dst, struct page *dpage)
{
	struct hmm_mock_device *mdev = hmm_mock_page_chunk(dpage)->mdev;

	if (unlikely(atomic_read(&mdev->inject.fail_copies)) &&
	    atomic_dec_if_positive(&mdev->inject.fail_copies) >= 0)
		return -EIO;
	copy_highpage(dst, hmm_mock_devmem_data(dpage));
	return 0;
}

/**
 * hmm_mock_max_chunks() - how many chunks a device may have now
 * @mdev: the device
 *
 * The cap is re-read each time, so it can be lowered on a live device.
 *
 * Return: the number of chunks allowed.
 */
unsigned int hmm_mock_max_chunks(struct hmm_mock_device *mdev)
{
	u64 bytes = (u64)READ_ONCE(devmem_max_mb) << 20;

	if (!hmm_mock_is_private(mdev))
		bytes = min_t(u64, bytes, mdev->spm_size);
	return min_t(u64, bytes / HMM_MOCK_CHUNK_SIZE, HMM_MOCK_MAX_CHUNKS);
}

/**
 * hmm_mock_chunk_destroy() - remove a chunk and free its backing pages
 * @chunk: the chunk; waits until every page of it is free
 */
void hmm_mock_chunk_destroy(struct hmm_mock_chunk *chunk)
{
	struct range *range = &chunk->pagemap.range;
	unsigned long i;

	memunmap_pages(&chunk->pagemap);
	if (chunk->pagemap.type == MEMORY_DEVICE_PRIVATE)
		release_mem_region(range->start, range_len(range));
	if (chunk->backing) {
		for (i = 0; i < HMM_MOCK_CHUNK_PAGES; i++)
			if (chunk->backing[i])
				__free_page(chunk->backing[i]);
		kvfree(chunk->backing);
	}
	kfree(chunk);
}

/**
 * hmm_mock_chunk_create() - add a chunk of ZONE_DEVICE memory
 * @mdev:	the device
 * @index:	the chunk's number; coherent chunks sit at that offset of
 *		the reserved range
 * @ops:	the pagemap callbacks
 *
 * Return: the chunk, its pages all at reference count 0, or an ERR_PTR.
 */
struct hmm_mock_chunk *hmm_mock_chunk_create(struct hmm_mock_device *mdev, unsigned int index,
					     const struct dev_pagemap_ops *ops)
{
	struct dev_pagemap *pgmap;
	struct hmm_mock_chunk *chunk;
	struct resource *res;
	void *addr;
	int ret;

	chunk = kzalloc_obj(*chunk, GFP_KERNEL);
	if (!chunk)
		return ERR_PTR(-ENOMEM);
	chunk->mdev = mdev;
	pgmap = &chunk->pagemap;

	if (hmm_mock_is_private(mdev)) {
		chunk->backing = kvcalloc(HMM_MOCK_CHUNK_PAGES, sizeof(*chunk->backing),
					  GFP_KERNEL);
		if (!chunk->backing) {
			ret = -ENOMEM;
			goto err_free;
		}
		/* Private memory needs physical addresses nothing else uses. */
		res = request_free_mem_region(&iomem_resource, HMM_MOCK_CHUNK_SIZE,
					      mdev->name);
		if (IS_ERR(res)) {
			ret = PTR_ERR(res);
			goto err_free;
		}
		pgmap->type = MEMORY_DEVICE_PRIVATE;
		pgmap->range.start = res->start;
		pgmap->range.end = res->end;
	} else {
		pgmap->type = MEMORY_DEVICE_COHERENT;
		pgmap->range.start = mdev->spm_base + (u64)index * HMM_MOCK_CHUNK_SIZE;
		pgmap->range.end = pgmap->range.start + HMM_MOCK_CHUNK_SIZE - 1;
	}
	pgmap->nr_range = 1;
	pgmap->ops = ops;
	pgmap->owner = mdev;

	/*
	 * One node for all of a device's memory, whichever CPU grows it
	 * (numa_node_id() would spread it over the nodes of the CPUs that
	 * allocated): coherent memory is on the node its addresses belong
	 * to; a mock device sits on no bus, so its private memory on the
	 * first node with memory.
	 */
	addr = memremap_pages(pgmap, pgmap->type == MEMORY_DEVICE_COHERENT ?
				     memory_add_physaddr_to_nid(pgmap->range.start) :
				     first_memory_node);
	if (IS_ERR_OR_NULL(addr)) {
		ret = addr ? PTR_ERR(addr) : -ENOMEM;
		goto err_region;
	}
	chunk->first_pfn = PHYS_PFN(pgmap->range.start);
	return chunk;

err_region:
	if (pgmap->type == MEMORY_DEVICE_PRIVATE)
		release_mem_region(pgmap->range.start, range_len(&pgmap->range));
err_free:
	kvfree(chunk->backing);
	kfree(chunk);
	return ERR_PTR(ret);
}
