/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layer 1, device memory: chunks of ZONE_DEVICE pages, the free lists,
 * the contents of device pages and their counters. Calls no other layer;
 * the kernel calls up through the pagemap callbacks. Documented at the
 * definitions in devmem.c and devmem_walk.c.
 */
#ifndef _HMM_MOCK_DEVMEM_H
#define _HMM_MOCK_DEVMEM_H

#include <linux/atomic.h>
#include <linux/mm_types.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>

struct hmm_mock_device;
struct hmm_mock_stats;
struct hmm_mock_free_check;
struct hmm_mock_chunk;

/* Device memory is added in chunks of this size, up to a per-device cap. */
#define HMM_MOCK_CHUNK_SIZE	(16UL << 20)
#define HMM_MOCK_CHUNK_PAGES	(HMM_MOCK_CHUNK_SIZE >> PAGE_SHIFT)
#define HMM_MOCK_MAX_CHUNKS	64

/*
 * Pages per step of every range walk (migration, hmm_range_fault, copies):
 * arrays of this size live on the stack or in one per-command allocation.
 */
#define HMM_MOCK_BATCH		64

/**
 * struct hmm_mock_devmem - the memory of one device; devmem.c only
 * @chunks_lock: serialises adding and removing chunks
 * @chunks:	the chunks created so far
 * @nchunks:	number of entries in @chunks
 * @free_lock:	protects @free_list, @large_free_list and the counters up
 *		to @large_allocs; innermost lock of the driver
 * @free_list:	free single device pages, linked through
 *		page->zone_device_data
 * @large_free_list: free PMD-aligned runs of HMM_MOCK_PMD_NR pages kept
 *		for large folios, linked through the first page's
 *		zone_device_data (only when hmm_mock_devmem_large())
 * @pages_free:	pages on @free_list and in the runs of @large_free_list
 * @pages_in_use: pages handed out and not yet freed
 * @page_frees:	calls of the pagemap's page_free/folio_free
 * @large_free:	runs on @large_free_list
 * @large_allocs: large folios handed out
 * @folio_splits: large folios the kernel split while they were in use
 */
struct hmm_mock_devmem {
	struct mutex chunks_lock;	/* growth and removal of @chunks */
	struct hmm_mock_chunk *chunks[HMM_MOCK_MAX_CHUNKS];
	unsigned int nchunks;

	spinlock_t free_lock;		/* the free lists and their counters */
	struct page *free_list;
	struct page *large_free_list;
	unsigned long pages_free;
	unsigned long pages_in_use;
	unsigned long page_frees;
	unsigned long large_free;
	unsigned long large_allocs;
	atomic_long_t folio_splits;
};

void hmm_mock_devmem_init(struct hmm_mock_device *mdev);
void hmm_mock_devmem_fini(struct hmm_mock_device *mdev);

int hmm_mock_devmem_grow(struct hmm_mock_device *mdev, bool large);
unsigned int hmm_mock_devmem_alloc(struct hmm_mock_device *mdev, unsigned int n,
				   struct page **pages);
bool hmm_mock_devmem_large(struct hmm_mock_device *mdev);
struct page *hmm_mock_devmem_alloc_large(struct hmm_mock_device *mdev);

struct hmm_mock_device *hmm_mock_page_device(struct page *page);
struct page *hmm_mock_devmem_data(struct page *page);
void hmm_mock_devmem_mark_written(struct page *page);
void hmm_mock_devmem_vacate(struct page *page);
bool hmm_mock_devmem_vacated(struct page *page);
void hmm_mock_devmem_copy_in(struct page *dpage, struct page *spage);
int hmm_mock_devmem_copy_out(struct page *dst, struct page *dpage);

unsigned long hmm_mock_devmem_chunk_pfn(struct hmm_mock_device *mdev, unsigned int c);
unsigned long hmm_mock_devmem_next_in_use(struct hmm_mock_device *mdev, unsigned long pfn,
					  unsigned long end);
unsigned long hmm_mock_devmem_in_use(struct hmm_mock_device *mdev);
unsigned long hmm_mock_devmem_free_pages(struct hmm_mock_device *mdev);
void hmm_mock_devmem_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats);
bool hmm_mock_devmem_listed_free(struct page *page);
int hmm_mock_devmem_check_free(struct hmm_mock_device *mdev, struct hmm_mock_free_check *chk);

#endif /* _HMM_MOCK_DEVMEM_H */
