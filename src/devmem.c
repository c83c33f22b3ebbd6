// SPDX-License-Identifier: GPL-2.0
/*
 * Device memory, layer 1: the free lists of device pages and the life cycle
 * of a device page, on chunks of ZONE_DEVICE memory (chunk.c).
 *
 * Life cycle of a device page, enforced here and nowhere else:
 *
 *   free       On mdev->mem.free_list, reference count 0, no pagemap
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
 *   vacated    A migration moved its contents to system memory
 *              (hmm_mock_devmem_vacate(), under the page lock). Between
 *              the unlock and the last put, eviction by pfn can still take
 *              and lock the page, unmapped: it must not move it again.
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
 * mdev->mem.large_free_list at reference count 0;
 * hmm_mock_devmem_alloc_large() initialises a run as one folio; folio_free
 * returns the whole folio to that list. When the kernel splits an allocated folio (partial munmap,
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
#include "chunk.h"
#include "devmem.h"
/* Only for the pagemap's migrate_to_ram callback, the one upward call. */
#include "migrate.h"

static void hmm_mock_page_free(struct page *page);

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
		atomic_long_inc(&mdev->mem.folio_splits);
		return;
	}
	tail->pgmap = head->pgmap;
	tail->page.mapping = head->page.mapping;
	tail->page.zone_device_data = NULL;	/* in use, not vacated */
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

/**
 * hmm_mock_devmem_large() - whether a device hands out large folios
 * @mdev: the device
 *
 * Only device-private memory on kernels with large device-private folios
 * (HMM_MOCK_LARGE_FOLIOS): the kernel cannot collect a huge
 * device-coherent PMD for migration back to system memory.
 *
 * Return: true when hmm_mock_devmem_alloc_large() may be used.
 */
bool hmm_mock_devmem_large(struct hmm_mock_device *mdev)
{
	return HMM_MOCK_LARGE_FOLIOS && thp_migration_supported() && hmm_mock_is_private(mdev);
}

/**
 * hmm_mock_page_device() - the hmm-mock device owning a page
 * @page: any page
 *
 * Return: the device, or NULL if @page is not device memory of hmm-mock.
 */
struct hmm_mock_device *hmm_mock_page_device(struct page *page)
{
	if (!is_zone_device_page(page) ||
	    hmm_mock_page_pgmap(page)->ops != &hmm_mock_devmem_ops)
		return NULL;
	return hmm_mock_page_chunk(page)->mdev;
}

/*
 * Record that @n pages from @page went on a free list, or came off one.
 * Called with free_lock held; the maps serve introspection and let
 * eviction skip free pages.
 */
static void hmm_mock_mark_free(struct page *page, unsigned int n)
{
	struct hmm_mock_chunk *chunk = hmm_mock_page_chunk(page);

	bitmap_set(chunk->free_map, hmm_mock_chunk_index(chunk, page), n);
}

static void hmm_mock_mark_taken(struct page *page, unsigned int n)
{
	struct hmm_mock_chunk *chunk = hmm_mock_page_chunk(page);

	bitmap_clear(chunk->free_map, hmm_mock_chunk_index(chunk, page), n);
}

/**
 * hmm_mock_devmem_init() - set up the memory bookkeeping of a device
 * @mdev: the device; no memory is added here (see hmm_mock_devmem_grow())
 */
void hmm_mock_devmem_init(struct hmm_mock_device *mdev)
{
	mutex_init(&mdev->mem.chunks_lock);
	spin_lock_init(&mdev->mem.free_lock);
	atomic_long_set(&mdev->mem.folio_splits, 0);

	/*
	 * Growing the memory allocates under chunks_lock (memremap_pages()),
	 * so reclaim may run inside it: tell lockdep now, not on the first
	 * allocation that happens to reclaim.
	 */
	if (IS_ENABLED(CONFIG_LOCKDEP)) {
		mutex_lock(&mdev->mem.chunks_lock);
		fs_reclaim_acquire(GFP_KERNEL);
		fs_reclaim_release(GFP_KERNEL);
		mutex_unlock(&mdev->mem.chunks_lock);
	}
}

/*
 * Whether an allocation can proceed without growing: a large one needs a
 * free run, a small one a free page or a run to break up.
 */
static bool hmm_mock_have_free(struct hmm_mock_device *mdev, bool large)
{
	bool have;

	spin_lock(&mdev->mem.free_lock);
	have = mdev->mem.large_free_list || (!large && mdev->mem.free_list);
	spin_unlock(&mdev->mem.free_lock);
	return have;
}

/*
 * Links the chunk's PMD-aligned runs on the large list (when the device
 * hands out large folios) and everything else on the small list.
 */
static void hmm_mock_chunk_link_free(struct hmm_mock_device *mdev, struct hmm_mock_chunk *chunk)
{
	struct page *pages = NULL, *runs = NULL, *page;
	struct page **pages_end = &pages, **runs_end = &runs;
	bool large = hmm_mock_devmem_large(mdev);
	unsigned long i = 0, nruns = 0;

	/* Lowest pfn first on both lists, then splice them in at once. */
	while (i < HMM_MOCK_CHUNK_PAGES) {
		unsigned long pfn = chunk->first_pfn + i;

		page = pfn_to_page(pfn);
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

	spin_lock(&mdev->mem.free_lock);
	bitmap_fill(chunk->free_map, HMM_MOCK_CHUNK_PAGES);
	for (i = 0, page = runs; i < nruns; i++, page = page->zone_device_data)
		__set_bit(hmm_mock_chunk_index(chunk, page), chunk->run_map);
	*pages_end = mdev->mem.free_list;
	mdev->mem.free_list = pages;
	*runs_end = mdev->mem.large_free_list;
	mdev->mem.large_free_list = runs;
	mdev->mem.large_free += nruns;
	mdev->mem.pages_free += HMM_MOCK_CHUNK_PAGES;
	spin_unlock(&mdev->mem.free_lock);
}

/**
 * hmm_mock_devmem_grow() - add device memory (at load, or when an allocation ran short)
 * @mdev:	the device
 * @large:	the allocation wants a PMD-aligned run, not a single page
 *
 * Adds one chunk, unless the cap is reached or another caller just freed
 * or grew enough for an allocation of this kind (at load nothing is free).
 * memremap_pages() takes the memory hotplug locks (cpu_hotplug_lock among
 * them), which memory offlining holds while it waits for KSM's mutex,
 * which ksmd holds around mmap_lock: the caller must not hold mmap_lock
 * (see DOC: Locking). May sleep.
 *
 * Return: 1 when it added a chunk, 0 when memory for such an allocation
 * is free already, -ENOMEM at the cap, or -errno.
 */
int hmm_mock_devmem_grow(struct hmm_mock_device *mdev, bool large)
{
	struct hmm_mock_chunk *chunk;
	int ret = 0;

	mutex_lock(&mdev->mem.chunks_lock);
	if (hmm_mock_have_free(mdev, large))
		goto out;

	if (mdev->mem.nchunks >= hmm_mock_max_chunks(mdev)) {
		ret = -ENOMEM;
		goto out;
	}
	chunk = hmm_mock_chunk_create(mdev, mdev->mem.nchunks, &hmm_mock_devmem_ops);
	if (IS_ERR(chunk)) {
		ret = PTR_ERR(chunk);
		pr_warn_ratelimited("%s: adding device memory failed: %d\n", mdev->name, ret);
		goto out;
	}
	mdev->mem.chunks[mdev->mem.nchunks++] = chunk;
	hmm_mock_chunk_link_free(mdev, chunk);
	ret = 1;

	pr_info("%s: added %lu MiB of device memory (%u chunks)\n", mdev->name,
		HMM_MOCK_CHUNK_SIZE >> 20, mdev->mem.nchunks);
out:
	mutex_unlock(&mdev->mem.chunks_lock);
	return ret;
}

/*
 * Puts a page nobody references (reference count 0) back on the free list:
 * the kernel freed it (@freed, counted in page_frees) or an allocation
 * backed out before handing it out.
 */
static void hmm_mock_free_list_push(struct hmm_mock_device *mdev, struct page *page, bool freed)
{
	spin_lock(&mdev->mem.free_lock);
	hmm_mock_mark_free(page, 1);
	page->zone_device_data = mdev->mem.free_list;
	mdev->mem.free_list = page;
	mdev->mem.pages_free++;
	mdev->mem.pages_in_use--;
	mdev->mem.page_frees += freed;
	spin_unlock(&mdev->mem.free_lock);
}

/* The same for the PMD-aligned run headed by @head, on the large list. */
static void hmm_mock_large_list_push(struct hmm_mock_device *mdev, struct page *head, bool freed)
{
	spin_lock(&mdev->mem.free_lock);
	hmm_mock_mark_free(head, HMM_MOCK_PMD_NR);
	__set_bit(hmm_mock_chunk_index(hmm_mock_page_chunk(head), head),
		  hmm_mock_page_chunk(head)->run_map);
	head->zone_device_data = mdev->mem.large_free_list;
	mdev->mem.large_free_list = head;
	mdev->mem.large_free++;
	mdev->mem.pages_free += HMM_MOCK_PMD_NR;
	mdev->mem.pages_in_use -= HMM_MOCK_PMD_NR;
	mdev->mem.page_frees += freed;
	spin_unlock(&mdev->mem.free_lock);
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

	filled = hmm_mock_alloc_backing(fresh, missing);
	for (i = 0; i < n; i++) {
		struct page *page = pages[i];
		struct page **backing = hmm_mock_chunk_backing(page);

		if (!*backing) {
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
 * Moves a free run to the small list; called when that is empty. Pages of a run
 * that was a large folio still carry its compound-page metadata; clear it
 * so that each page is a single free page again for pfn walkers
 * (migrate_device_range() at eviction) and for zone_device_page_init().
 * Called with free_lock held.
 */
static void hmm_mock_break_free_run(struct hmm_mock_device *mdev)
{
#if HMM_MOCK_LARGE_FOLIOS
	struct page *head = mdev->mem.large_free_list, *page;
	struct dev_pagemap *pgmap;
	unsigned long i;

	if (!head)
		return;
	mdev->mem.large_free_list = head->zone_device_data;
	mdev->mem.large_free--;
	__clear_bit(hmm_mock_chunk_index(hmm_mock_page_chunk(head), head),
		    hmm_mock_page_chunk(head)->run_map);

	/* A tail's compound_head shares its word with pgmap: restore it. */
	pgmap = &hmm_mock_page_chunk(head)->pagemap;
	/* A run that was a folio: its flags in page 1 would go with page 1. */
	if (folio_test_large((struct folio *)head))
		folio_clear_large_rmappable((struct folio *)head);
	__folio_clear_head((struct folio *)head);
	for (i = HMM_MOCK_PMD_NR; i-- > 0;) {
		page = head + i;
		((struct folio *)page)->pgmap = pgmap;
		page->mapping = NULL;	/* a tail's TAIL_MAPPING poison */
		page->zone_device_data = mdev->mem.free_list;
		mdev->mem.free_list = page;
	}
#endif
}

/**
 * hmm_mock_devmem_alloc() - hand out device pages
 * @mdev:	device to allocate from
 * @n:		number of pages wanted, at most HMM_MOCK_BATCH
 * @pages:	filled with the pages handed out
 *
 * Takes the pages off the free list, breaking up free runs as needed,
 * and never grows the device memory: a caller that runs short calls
 * hmm_mock_devmem_grow() once it holds no mmap_lock, and tries again.
 * Every page returned is initialised for use: reference count one, locked,
 * holding a pagemap reference. Its contents are undefined. May sleep.
 *
 * Return: number of pages handed out; fewer than @n when the free pages
 * ran out, which is not an error.
 */
unsigned int hmm_mock_devmem_alloc(struct hmm_mock_device *mdev, unsigned int n,
				   struct page **pages)
{
	unsigned int got = 0, i;

	if (WARN_ON_ONCE(n > HMM_MOCK_BATCH))
		n = HMM_MOCK_BATCH;

	spin_lock(&mdev->mem.free_lock);
	while (got < n) {
		if (!mdev->mem.free_list)
			hmm_mock_break_free_run(mdev);
		if (!mdev->mem.free_list)
			break;
		pages[got] = mdev->mem.free_list;
		mdev->mem.free_list = pages[got]->zone_device_data;
		pages[got]->zone_device_data = NULL;
		hmm_mock_mark_taken(pages[got], 1);
		got++;
	}
	mdev->mem.pages_free -= got;
	mdev->mem.pages_in_use += got;
	spin_unlock(&mdev->mem.free_lock);

	got = hmm_mock_attach_backing(mdev, pages, got);
	for (i = 0; i < got; i++)
		hmm_mock_page_init(pages[i], hmm_mock_page_pgmap(pages[i]));
	return got;
}

/**
 * hmm_mock_devmem_alloc_large() - hand out one PMD-order device folio
 * @mdev: device to allocate from; hmm_mock_devmem_large() must be true
 *
 * Takes a free PMD-aligned run and makes sure every page of it has
 * backing memory. Never grows the device memory (see
 * hmm_mock_devmem_alloc()). The folio is initialised like the pages of
 * hmm_mock_devmem_alloc(): reference count one, locked, one pagemap
 * reference per page. Its contents are undefined. May sleep.
 *
 * Return: the folio's first page, or NULL when no run is free.
 */
struct page *hmm_mock_devmem_alloc_large(struct hmm_mock_device *mdev)
{
	struct page *head;

	if (WARN_ON_ONCE(!hmm_mock_devmem_large(mdev)))
		return NULL;
	spin_lock(&mdev->mem.free_lock);
	head = mdev->mem.large_free_list;
	if (head) {
		mdev->mem.large_free_list = head->zone_device_data;
		head->zone_device_data = NULL;
		hmm_mock_mark_taken(head, HMM_MOCK_PMD_NR);
		__clear_bit(hmm_mock_chunk_index(hmm_mock_page_chunk(head), head),
			    hmm_mock_page_chunk(head)->run_map);
		mdev->mem.large_free--;
		mdev->mem.pages_free -= HMM_MOCK_PMD_NR;
		mdev->mem.pages_in_use += HMM_MOCK_PMD_NR;
	}
	spin_unlock(&mdev->mem.free_lock);
	if (!head)
		return NULL;

	if (!hmm_mock_chunk_back_large(head)) {
		hmm_mock_large_list_push(mdev, head, false);
		return NULL;
	}
	hmm_mock_large_folio_init(head, hmm_mock_page_pgmap(head), HMM_MOCK_PMD_ORDER);
	spin_lock(&mdev->mem.free_lock);
	mdev->mem.large_allocs++;
	spin_unlock(&mdev->mem.free_lock);
	return head;
}

/*
 * A freed folio's flags that described its contents. Migration only ever
 * sets them on the next folio migrated in (folio_migrate_mapping(),
 * folio_migrate_flags()), and zone_device_page_init() keeps them before
 * 7.x (dirty) or always (swap-backed): a page lazily freed (MADV_FREE)
 * that passed through a reused device page would come back dirty or
 * swap-backed, and reclaim would keep what user space let it drop.
 */
static void hmm_mock_clear_content_flags(struct folio *folio)
{
	folio_clear_dirty(folio);
	folio_clear_swapbacked(folio);
}

#ifdef HMM_MOCK_HAVE_PGMAP_FOLIO_FREE
/*
 * folio_free of a large folio: the whole PMD-aligned run goes back on the
 * large list at reference count 0, keeping its backing pages.
 */
static void hmm_mock_large_folio_free(struct hmm_mock_device *mdev, struct page *head)
{
	hmm_mock_clear_content_flags(page_folio(head));
	hmm_mock_large_list_push(mdev, head, true);
}
#endif

/*
 * dev_pagemap_ops.page_free: the last reference to an allocated page is
 * gone. The backing page stays attached for the page's next use.
 */
static void hmm_mock_page_free(struct page *page)
{
	hmm_mock_clear_content_flags(page_folio(page));
	hmm_mock_free_list_push(hmm_mock_page_chunk(page)->mdev, page, true);
}

/**
 * hmm_mock_devmem_mark_written() - record that the device wrote a device page
 * @page: an allocated device page of hmm-mock (an anonymous folio), mapped
 *
 * As a CPU write through a dirty PTE would: the contents now differ from
 * any copy in system memory, and the migration back passes the folio's
 * dirty flag to the system page. Without it a lazily freed (MADV_FREE)
 * page comes back clean and reclaim drops what the device wrote. An
 * anonymous folio needs no lock for this.
 */
void hmm_mock_devmem_mark_written(struct page *page)
{
	folio_mark_dirty(page_folio(page));
}

/* What zone_device_data of an allocated page points to once it is vacated. */
static const char hmm_mock_vacated_mark;

/**
 * hmm_mock_devmem_vacate() - record that a device page's contents moved out
 * @page: an allocated device page (a large folio's first page), locked,
 *	  that migrate_*_pages() just migrated to system memory
 *
 * Whoever moved it still holds a reference after unlocking it (the
 * migration until its finalize drops it; on a CPU fault, do_swap_page()
 * until migrate_to_ram returns), so eviction by pfn can still get and lock
 * the page, now mapped nowhere. Migrating it again would move a folio
 * whose memory cgroup charge already went to the new page (a DEBUG_VM
 * warning in mem_cgroup_migrate()); the mark, kept until the page is
 * freed, tells eviction to leave it. And eviction's finalize walks the
 * rmap of every page it locked, through an anon_vma that nothing keeps
 * alive once the page is unmapped, so the page keeps only the anon flag
 * of its mapping: the walk finds no anon_vma, and the core still clears
 * the page's AnonExclusive bits when it frees it.
 */
void hmm_mock_devmem_vacate(struct page *page)
{
	page->zone_device_data = (void *)&hmm_mock_vacated_mark;
	if (PageAnon(page))
		page->mapping = (void *)HMM_MOCK_MAPPING_ANON;
}

/**
 * hmm_mock_devmem_vacated() - whether a device page's contents moved out
 * @page: an allocated device page, locked
 *
 * Return: true after hmm_mock_devmem_vacate() on it: the page must not be
 * migrated again.
 */
bool hmm_mock_devmem_vacated(struct page *page)
{
	return page->zone_device_data == &hmm_mock_vacated_mark;
}

/*
 * Every device page is free at reference count 0; says so in the log if
 * not. Not a WARN: user space can hold device-coherent pages (a pin, a
 * page in a pipe) past the last close.
 */
static bool hmm_mock_devmem_all_free(struct hmm_mock_device *mdev)
{
	unsigned long busy = 0, total, i;
	unsigned int c;

	for (c = 0; c < mdev->mem.nchunks; c++)
		for (i = 0; i < HMM_MOCK_CHUNK_PAGES; i++)
			if (page_ref_count(pfn_to_page(mdev->mem.chunks[c]->first_pfn + i)))
				busy++;

	total = (unsigned long)mdev->mem.nchunks * HMM_MOCK_CHUNK_PAGES;
	if (!busy && mdev->mem.pages_free == total && !mdev->mem.pages_in_use)
		return true;

	pr_err("%s: device pages not free at unload: %lu referenced, %lu of %lu on the free list, %lu counted in use\n",
	       mdev->name, busy, mdev->mem.pages_free, total, mdev->mem.pages_in_use);
	return false;
}

/**
 * hmm_mock_devmem_fini() - give all device memory back to the kernel
 * @mdev: the device; nothing may use it any more (module unload), and its
 *	  pages have been evicted
 *
 * Checks that every device page is free at reference count zero, says so
 * in the log if not, and removes the chunks.
 */
void hmm_mock_devmem_fini(struct hmm_mock_device *mdev)
{
	unsigned int c;

	mutex_lock(&mdev->mem.chunks_lock);
	if (hmm_mock_devmem_all_free(mdev) && mdev->mem.nchunks)
		pr_info("%s: all %lu device pages free\n", mdev->name,
			(unsigned long)mdev->mem.nchunks * HMM_MOCK_CHUNK_PAGES);
	/*
	 * memunmap_pages() waits for every pagemap reference, i.e. for every
	 * page to be freed, so a leaked page blocks here rather than leaving
	 * the kernel a pagemap whose callbacks are gone.
	 */
	for (c = 0; c < mdev->mem.nchunks; c++)
		hmm_mock_chunk_destroy(mdev->mem.chunks[c]);
	mdev->mem.nchunks = 0;
	mdev->mem.free_list = NULL;
	mdev->mem.large_free_list = NULL;
	mdev->mem.large_free = 0;
	mdev->mem.pages_free = 0;
	mutex_unlock(&mdev->mem.chunks_lock);
}
