// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory: chunks of ZONE_DEVICE pages, the free list, and the life
 * cycle of a device page.
 *
 * Life cycle of a device page, enforced here and nowhere else:
 *
 *   free       On mdev->free_list, reference count 0, no pagemap
 *              reference; page->zone_device_data links the list.
 *   allocated  hmm_mock_devmem_alloc() took it off the list and ran
 *              zone_device_page_init(): reference count 1, page locked, one
 *              pagemap reference. The caller fills it (a private page's
 *              contents live in its backing page) and gives it to
 *              migrate_vma_pages() or migrate_device_pages().
 *   mapped     The migration installed it in a CPU page table and
 *              migrate_*_finalize() unlocked it. It is referenced by the
 *              page table (and by the device page table only through the
 *              invalidation protocol of mirror.c, never with a reference).
 *   freed      The last reference went away (munmap, migration back to
 *              system memory, failed migration): the core calls
 *              hmm_mock_page_free(), which puts the page back on the free
 *              list, and then drops the pagemap reference.
 *
 * So a page with a non-zero reference count is never on the free list, and
 * a chunk can only be unmapped once every page of it is free again.
 *
 * Large folios (device-private memory on kernels with large device
 * folios, see hmm_mock_devmem_large()) follow the same cycle as a whole:
 * a new chunk's PMD-aligned runs of HMM_MOCK_PMD_NR pages go on
 * mdev->large_free_list at reference count 0; hmm_mock_devmem_alloc_large()
 * initialises a run as one folio; folio_free returns the whole folio to
 * that list. When the kernel splits an allocated folio (partial munmap,
 * partial migration) its pieces come back one by one as single pages and
 * join the small list. A small allocation that finds the small list empty
 * breaks a free run into single pages; runs are not rebuilt from single
 * pages.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/ioport.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <uapi/hmm_mock.h>

#include "compat.h"
#include "hmm_mock.h"

static unsigned int devmem_max_mb = 512;
module_param(devmem_max_mb, uint, 0644);
MODULE_PARM_DESC(devmem_max_mb,
		 "Cap on each device's memory in MiB, read whenever a device grows (default 512)");

static void hmm_mock_page_free(struct page *page);
static struct hmm_mock_chunk *hmm_mock_page_chunk(struct page *page);

#ifdef HMM_MOCK_HAVE_PGMAP_FOLIO_FREE
static void hmm_mock_large_folio_free(struct hmm_mock_device *mdev, struct page *head);

/* The callback takes the folio: a single page or a whole large folio. */
static void hmm_mock_folio_free(struct folio *folio)
{
	if (folio_test_large(folio))
		hmm_mock_large_folio_free(hmm_mock_page_chunk(&folio->page)->mdev, &folio->page);
	else
		hmm_mock_page_free(&folio->page);
}
#endif

#if HMM_MOCK_LARGE_FOLIOS
/*
 * dev_pagemap_ops.folio_split: the kernel is splitting one of our large
 * folios in use, once per new folio and then with @tail NULL. Contents
 * are kept per page, so nothing moves; the new folio only needs what ties
 * it to its pagemap and anon mapping.
 */
static void hmm_mock_folio_split(struct folio *head, struct folio *tail)
{
	struct hmm_mock_device *mdev = head->pgmap->owner;

	if (!tail) {
		atomic_long_inc(&mdev->folio_splits);
		return;
	}
	tail->pgmap = head->pgmap;
	tail->page.mapping = head->page.mapping;
}
#endif

static const struct dev_pagemap_ops hmm_mock_devmem_ops = {
#ifdef HMM_MOCK_HAVE_PGMAP_FOLIO_FREE
	.folio_free	= hmm_mock_folio_free,
#else
	.page_free	= hmm_mock_page_free,
#endif
#if HMM_MOCK_LARGE_FOLIOS
	.folio_split	= hmm_mock_folio_split,
#endif
	.migrate_to_ram	= hmm_mock_migrate_to_ram,
};

static struct hmm_mock_chunk *hmm_mock_page_chunk(struct page *page)
{
	return container_of(hmm_mock_page_pgmap(page), struct hmm_mock_chunk, pagemap);
}

static bool hmm_mock_is_private(struct hmm_mock_device *mdev)
{
	return mdev->mem_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
}

/*
 * Only private memory: the kernel cannot collect a huge device-coherent
 * PMD for migration back to system memory.
 */
bool hmm_mock_devmem_large(struct hmm_mock_device *mdev)
{
	return HMM_MOCK_LARGE_FOLIOS && thp_migration_supported() && hmm_mock_is_private(mdev);
}

struct hmm_mock_device *hmm_mock_page_device(struct page *page)
{
	if (!is_zone_device_page(page) ||
	    hmm_mock_page_pgmap(page)->ops != &hmm_mock_devmem_ops)
		return NULL;
	return hmm_mock_page_chunk(page)->mdev;
}

struct page *hmm_mock_devmem_data(struct page *page)
{
	struct hmm_mock_chunk *chunk;

	if (!is_device_private_page(page))
		return page;
	chunk = hmm_mock_page_chunk(page);
	return chunk->backing[page_to_pfn(page) - chunk->first_pfn];
}

void hmm_mock_devmem_init(struct hmm_mock_device *mdev)
{
	mutex_init(&mdev->chunks_lock);
	spin_lock_init(&mdev->free_lock);
	atomic_long_set(&mdev->cpu_faults, 0);
	atomic_long_set(&mdev->evicted, 0);
	atomic_long_set(&mdev->folio_splits, 0);
}

/* Chunks the device may have; the cap is re-read so it can be lowered live. */
static unsigned int hmm_mock_max_chunks(struct hmm_mock_device *mdev)
{
	u64 bytes = (u64)READ_ONCE(devmem_max_mb) << 20;

	if (!hmm_mock_is_private(mdev))
		bytes = min_t(u64, bytes, mdev->spm_size);
	return min_t(u64, bytes / HMM_MOCK_CHUNK_SIZE, HMM_MOCK_MAX_CHUNKS);
}

static void hmm_mock_chunk_destroy(struct hmm_mock_chunk *chunk)
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

static struct hmm_mock_chunk *hmm_mock_chunk_create(struct hmm_mock_device *mdev,
						    unsigned int index)
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
	pgmap->ops = &hmm_mock_devmem_ops;
	pgmap->owner = mdev;

	addr = memremap_pages(pgmap, numa_node_id());
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

/*
 * Whether an allocation can proceed without growing: a large one needs a
 * free run, a small one a free page or a run to break up.
 */
static bool hmm_mock_have_free(struct hmm_mock_device *mdev, bool large)
{
	bool have;

	spin_lock(&mdev->free_lock);
	have = mdev->large_free_list || (!large && mdev->free_list);
	spin_unlock(&mdev->free_lock);
	return have;
}

/*
 * Links the chunk's PMD-aligned runs on the large list (when the device
 * hands out large folios) and everything else on the small list.
 */
static void hmm_mock_chunk_link_free(struct hmm_mock_device *mdev, struct hmm_mock_chunk *chunk)
{
	struct page *pages = NULL, *runs = NULL;
	struct page **pages_end = &pages, **runs_end = &runs;
	bool large = hmm_mock_devmem_large(mdev);
	unsigned long i = 0, nruns = 0;

	/* Lowest pfn first on both lists, then splice them in at once. */
	while (i < HMM_MOCK_CHUNK_PAGES) {
		unsigned long pfn = chunk->first_pfn + i;
		struct page *page = pfn_to_page(pfn);

		if (large && IS_ALIGNED(pfn, HMM_MOCK_PMD_NR) &&
		    i + HMM_MOCK_PMD_NR <= HMM_MOCK_CHUNK_PAGES) {
			*runs_end = page;
			runs_end = (struct page **)&page->zone_device_data;
			nruns++;
			i += HMM_MOCK_PMD_NR;
		} else {
			*pages_end = page;
			pages_end = (struct page **)&page->zone_device_data;
			i++;
		}
	}

	spin_lock(&mdev->free_lock);
	*pages_end = mdev->free_list;
	mdev->free_list = pages;
	*runs_end = mdev->large_free_list;
	mdev->large_free_list = runs;
	mdev->large_free += nruns;
	mdev->pages_free += HMM_MOCK_CHUNK_PAGES;
	spin_unlock(&mdev->free_lock);
}

/*
 * Adds one chunk, unless the cap is reached or another caller just grew
 * enough for an allocation of this kind (@large).
 */
static int hmm_mock_devmem_grow(struct hmm_mock_device *mdev, bool large)
{
	struct hmm_mock_chunk *chunk;
	int ret = 0;

	mutex_lock(&mdev->chunks_lock);
	if (hmm_mock_have_free(mdev, large))
		goto out;

	if (mdev->nchunks >= hmm_mock_max_chunks(mdev)) {
		ret = -ENOMEM;
		goto out;
	}
	chunk = hmm_mock_chunk_create(mdev, mdev->nchunks);
	if (IS_ERR(chunk)) {
		ret = PTR_ERR(chunk);
		pr_warn_ratelimited("%s: adding device memory failed: %d\n", mdev->name, ret);
		goto out;
	}
	mdev->chunks[mdev->nchunks++] = chunk;
	hmm_mock_chunk_link_free(mdev, chunk);

	pr_info("%s: added %lu MiB of device memory (%u chunks)\n", mdev->name,
		HMM_MOCK_CHUNK_SIZE >> 20, mdev->nchunks);
out:
	mutex_unlock(&mdev->chunks_lock);
	return ret;
}

/*
 * Puts a page nobody references (reference count 0) back on the free list:
 * the kernel freed it (@freed, counted in page_frees) or an allocation
 * backed out before handing it out.
 */
static void hmm_mock_free_list_push(struct hmm_mock_device *mdev, struct page *page, bool freed)
{
	spin_lock(&mdev->free_lock);
	page->zone_device_data = mdev->free_list;
	mdev->free_list = page;
	mdev->pages_free++;
	mdev->pages_in_use--;
	mdev->page_frees += freed;
	spin_unlock(&mdev->free_lock);
}

/* The same for the PMD-aligned run headed by @head, on the large list. */
static void hmm_mock_large_list_push(struct hmm_mock_device *mdev, struct page *head, bool freed)
{
	spin_lock(&mdev->free_lock);
	head->zone_device_data = mdev->large_free_list;
	mdev->large_free_list = head;
	mdev->large_free++;
	mdev->pages_free += HMM_MOCK_PMD_NR;
	mdev->pages_in_use -= HMM_MOCK_PMD_NR;
	mdev->page_frees += freed;
	spin_unlock(&mdev->free_lock);
}

/*
 * Private pages keep their contents in a system page allocated the first
 * time the device page is used and kept with it afterwards. Pages whose
 * backing cannot be allocated go back to the free list; the others are
 * packed to the front of @pages.
 */
static unsigned int hmm_mock_attach_backing(struct hmm_mock_device *mdev,
					    struct page **pages, unsigned int n)
{
	struct page *fresh[HMM_MOCK_BATCH] = { NULL };
	unsigned int i, kept = 0, missing = 0, filled, used = 0;

	if (!hmm_mock_is_private(mdev))
		return n;

	for (i = 0; i < n; i++)
		if (!hmm_mock_devmem_data(pages[i]))
			missing++;
	if (!missing)
		return n;

	filled = hmm_mock_alloc_pages_bulk(GFP_HIGHUSER, missing, fresh);
	for (i = 0; i < n; i++) {
		struct page *page = pages[i];
		struct hmm_mock_chunk *chunk = hmm_mock_page_chunk(page);
		struct page **backing = &chunk->backing[page_to_pfn(page) - chunk->first_pfn];

		if (!*backing) {
			/* The bulk allocator packs what it got to the front. */
			if (used >= filled) {
				hmm_mock_free_list_push(mdev, page, false);
				continue;
			}
			*backing = fresh[used++];
		}
		pages[kept++] = page;
	}
	return kept;
}

/*
 * Moves a free run to the small list when that is empty. Pages of a run
 * that was a large folio still carry its compound-page metadata; clear it
 * so that each page is a single free page again for pfn walkers
 * (migrate_device_range() at eviction) and for zone_device_page_init().
 * Called with free_lock held.
 */
static void hmm_mock_break_free_run(struct hmm_mock_device *mdev)
{
#if HMM_MOCK_LARGE_FOLIOS
	struct page *head = mdev->large_free_list, *page;
	struct dev_pagemap *pgmap;
	unsigned long i;

	if (mdev->free_list || !head)
		return;
	mdev->large_free_list = head->zone_device_data;
	mdev->large_free--;

	/* A tail's compound_head shares its word with pgmap: restore it. */
	pgmap = &hmm_mock_page_chunk(head)->pagemap;
	__folio_clear_head((struct folio *)head);
	for (i = HMM_MOCK_PMD_NR; i-- > 0;) {
		page = head + i;
		((struct folio *)page)->pgmap = pgmap;
		page->zone_device_data = mdev->free_list;
		mdev->free_list = page;
	}
#endif
}

unsigned int hmm_mock_devmem_alloc(struct hmm_mock_device *mdev, unsigned int n,
				   struct page **pages)
{
	unsigned int got = 0, taken, i;

	if (WARN_ON_ONCE(n > HMM_MOCK_BATCH))
		n = HMM_MOCK_BATCH;

	while (got < n) {
		spin_lock(&mdev->free_lock);
		hmm_mock_break_free_run(mdev);
		for (taken = 0; got < n && mdev->free_list; taken++) {
			struct page *page = mdev->free_list;

			mdev->free_list = page->zone_device_data;
			page->zone_device_data = NULL;
			pages[got++] = page;
		}
		mdev->pages_free -= taken;
		mdev->pages_in_use += taken;
		spin_unlock(&mdev->free_lock);

		if (got < n && hmm_mock_devmem_grow(mdev, false))
			break;
	}

	got = hmm_mock_attach_backing(mdev, pages, got);
	for (i = 0; i < got; i++)
		hmm_mock_page_init(pages[i], hmm_mock_page_pgmap(pages[i]));
	return got;
}

/*
 * Backing pages for a whole large folio, allocated in batches the first
 * time its pages are used. On failure the pages that got one keep it.
 */
static bool hmm_mock_attach_backing_large(struct hmm_mock_device *mdev, struct page *head)
{
	struct hmm_mock_chunk *chunk = hmm_mock_page_chunk(head);
	struct page **backing = &chunk->backing[page_to_pfn(head) - chunk->first_pfn];
	struct page *fresh[HMM_MOCK_BATCH];
	unsigned long i, j, missing, filled, used;

	for (i = 0; i < HMM_MOCK_PMD_NR; i += HMM_MOCK_BATCH) {
		for (j = 0, missing = 0; j < HMM_MOCK_BATCH; j++)
			missing += !backing[i + j];
		if (!missing)
			continue;
		memset(fresh, 0, sizeof(fresh));
		filled = hmm_mock_alloc_pages_bulk(GFP_HIGHUSER, missing, fresh);
		for (j = 0, used = 0; j < HMM_MOCK_BATCH && used < filled; j++)
			if (!backing[i + j])
				backing[i + j] = fresh[used++];
		if (filled < missing)
			return false;
	}
	return true;
}

struct page *hmm_mock_devmem_alloc_large(struct hmm_mock_device *mdev)
{
	struct page *head;

	if (WARN_ON_ONCE(!hmm_mock_devmem_large(mdev)))
		return NULL;
	for (;;) {
		spin_lock(&mdev->free_lock);
		head = mdev->large_free_list;
		if (head) {
			mdev->large_free_list = head->zone_device_data;
			head->zone_device_data = NULL;
			mdev->large_free--;
			mdev->pages_free -= HMM_MOCK_PMD_NR;
			mdev->pages_in_use += HMM_MOCK_PMD_NR;
		}
		spin_unlock(&mdev->free_lock);
		if (head)
			break;
		if (hmm_mock_devmem_grow(mdev, true))
			return NULL;
	}

	if (!hmm_mock_attach_backing_large(mdev, head)) {
		hmm_mock_large_list_push(mdev, head, false);
		return NULL;
	}
	hmm_mock_large_folio_init(head, hmm_mock_page_pgmap(head), HMM_MOCK_PMD_ORDER);
	spin_lock(&mdev->free_lock);
	mdev->large_allocs++;
	spin_unlock(&mdev->free_lock);
	return head;
}

#ifdef HMM_MOCK_HAVE_PGMAP_FOLIO_FREE
/*
 * folio_free of a large folio: the whole PMD-aligned run goes back on the
 * large list at reference count 0, keeping its backing pages.
 */
static void hmm_mock_large_folio_free(struct hmm_mock_device *mdev, struct page *head)
{
	hmm_mock_large_list_push(mdev, head, true);
}
#endif

/*
 * dev_pagemap_ops.page_free: the last reference to an allocated page is
 * gone. The backing page stays attached for the page's next use.
 */
static void hmm_mock_page_free(struct page *page)
{
	hmm_mock_free_list_push(hmm_mock_page_chunk(page)->mdev, page, true);
}

void hmm_mock_devmem_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats)
{
	mutex_lock(&mdev->chunks_lock);
	stats->chunks = mdev->nchunks;
	stats->pages_total = (u64)mdev->nchunks * HMM_MOCK_CHUNK_PAGES;
	mutex_unlock(&mdev->chunks_lock);

	spin_lock(&mdev->free_lock);
	stats->pages_free = mdev->pages_free;
	stats->pages_in_use = mdev->pages_in_use;
	stats->page_frees = mdev->page_frees;
	stats->large_free = mdev->large_free;
	stats->large_allocs = mdev->large_allocs;
	spin_unlock(&mdev->free_lock);
	stats->large_folio_pages = hmm_mock_devmem_large(mdev) ? HMM_MOCK_PMD_NR : 0;
	stats->folio_splits = atomic_long_read(&mdev->folio_splits);
	stats->cpu_faults = atomic_long_read(&mdev->cpu_faults);
	stats->evicted = atomic_long_read(&mdev->evicted);
}

/* Every device page is free at reference count 0; says loudly if not. */
static bool hmm_mock_devmem_all_free(struct hmm_mock_device *mdev)
{
	unsigned long busy = 0, total, i;
	unsigned int c;

	for (c = 0; c < mdev->nchunks; c++)
		for (i = 0; i < HMM_MOCK_CHUNK_PAGES; i++)
			if (page_ref_count(pfn_to_page(mdev->chunks[c]->first_pfn + i)))
				busy++;

	total = (unsigned long)mdev->nchunks * HMM_MOCK_CHUNK_PAGES;
	if (!busy && mdev->pages_free == total && !mdev->pages_in_use)
		return true;

	WARN(1, "%s: device pages not free at unload: %lu referenced, %lu of %lu on the free list, %lu counted in use\n",
	     mdev->name, busy, mdev->pages_free, total, mdev->pages_in_use);
	return false;
}

void hmm_mock_devmem_fini(struct hmm_mock_device *mdev)
{
	unsigned int c;

	if (hmm_mock_evict_device(mdev))
		pr_err("%s: device memory still in use after eviction\n", mdev->name);

	mutex_lock(&mdev->chunks_lock);
	if (hmm_mock_devmem_all_free(mdev) && mdev->nchunks)
		pr_info("%s: all %lu device pages free\n", mdev->name,
			(unsigned long)mdev->nchunks * HMM_MOCK_CHUNK_PAGES);
	/*
	 * memunmap_pages() waits for every pagemap reference, i.e. for every
	 * page to be freed, so a leaked page blocks here rather than leaving
	 * the kernel a pagemap whose callbacks are gone.
	 */
	for (c = 0; c < mdev->nchunks; c++)
		hmm_mock_chunk_destroy(mdev->chunks[c]);
	mdev->nchunks = 0;
	mdev->free_list = NULL;
	mdev->large_free_list = NULL;
	mdev->large_free = 0;
	mdev->pages_free = 0;
	mutex_unlock(&mdev->chunks_lock);
}
