// SPDX-License-Identifier: GPL-2.0
/*
 * Device page table, layer 2: the device's copies through it, as its DMA
 * would do them, using only the entries hmm_mock_mirror_fault() and
 * EXCLUSIVE installed (see DOC: Device page table in mirror.c).
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "devmem.h"
#include "mirror.h"

/* The page at @index if the device may access it with @tag or more. */
static struct page *hmm_mock_pt_lookup(struct hmm_mock_mirror *mirror, unsigned long index,
				       unsigned long tag)
{
	void *entry = xa_load(&mirror->pt, index);

	if (!entry || xa_pointer_tag(entry) < tag)
		return NULL;
	return xa_untag_pointer(entry);
}

/**
 * hmm_mock_mirror_read() - copy what the device sees to a kernel buffer
 * @mirror:	the mirror
 * @addr:	first address
 * @n:		pages
 * @buf:	@n pages of kernel memory
 *
 * Uses only entries in the device page table, never faults.
 *
 * Return: the number of pages copied; fewer than @n when the next page is
 * not mapped on the device.
 */
unsigned long hmm_mock_mirror_read(struct hmm_mock_mirror *mirror, unsigned long addr,
				   unsigned long n, void *buf)
{
	unsigned long i, index = addr >> PAGE_SHIFT;
	struct page *page;

	mutex_lock(&mirror->lock);
	for (i = 0; i < n; i++, buf += PAGE_SIZE) {
		page = hmm_mock_pt_lookup(mirror, index + i, HMM_MOCK_PT_READ);
		if (!page)
			break;
		memcpy_from_page(buf, hmm_mock_devmem_data(page), 0, PAGE_SIZE);
	}
	mutex_unlock(&mirror->lock);
	return i;
}

/**
 * hmm_mock_mirror_read_user() - copy what the device sees to user memory
 * @mirror:	the mirror
 * @addr:	first address
 * @n:		pages
 * @ubuf:	@n pages of user memory
 * @ufault:	set when the copy stopped because @ubuf needs a page fault
 *
 * Copies straight into the caller's buffer, as a device's DMA would, with
 * no bounce buffer in between. Uses only entries in the device page table
 * and never faults, neither for the device nor on @ubuf: a fault on @ubuf
 * may invalidate the mirror, which takes mirror->lock, held here. The
 * caller faults @ubuf in without the lock and tries again.
 *
 * Return: the number of pages copied; fewer than @n when the next page is
 * not mapped on the device or (*@ufault) its copy to @ubuf would fault.
 */
unsigned long hmm_mock_mirror_read_user(struct hmm_mock_mirror *mirror, unsigned long addr,
					unsigned long n, void __user *ubuf, bool *ufault)
{
	unsigned long i, index = addr >> PAGE_SHIFT, left = 0;
	struct page *page;
	void *from;

	mutex_lock(&mirror->lock);
	pagefault_disable();
	for (i = 0; i < n; i++, ubuf += PAGE_SIZE) {
		page = hmm_mock_pt_lookup(mirror, index + i, HMM_MOCK_PT_READ);
		if (!page)
			break;
		from = kmap_local_page(hmm_mock_devmem_data(page));
		left = copy_to_user(ubuf, from, PAGE_SIZE);
		kunmap_local(from);
		if (left)
			break;
	}
	pagefault_enable();
	mutex_unlock(&mirror->lock);
	*ufault = left;
	return i;
}

/*
 * As after DMA: a system page the device wrote must not be dropped as
 * clean (MADV_FREE, page cache). Marked outside mirror->lock, which
 * reclaim takes, with the folio lock; the reference keeps it meanwhile.
 */
static void hmm_mock_mark_written(struct page **pages, unsigned long n)
{
	unsigned long i;

	for (i = 0; i < n; i++) {
		set_page_dirty_lock(pages[i]);
		put_page(pages[i]);
	}
}

/**
 * hmm_mock_mirror_write_user() - write user memory through the device
 * @mirror:	the mirror
 * @addr:	first address
 * @n:		pages, at most HMM_MOCK_BATCH
 * @ubuf:	@n pages of user memory
 * @ufault:	set when the copy stopped because @ubuf needs a page fault
 *
 * The other direction of hmm_mock_mirror_read_user(), with the same rules:
 * only writable entries in the device page table, no fault of any kind;
 * the caller checked @ubuf with access_ok(). Marks the pages it writes
 * dirty, device pages and system pages alike, also a page whose copy
 * stopped part way (its buffer went away meanwhile): the part before the
 * stop is written, the rest keeps its old contents. A page whose copy
 * stopped at its first byte is left as it was.
 *
 * Return: the number of pages written whole; fewer than @n when the next
 * page is not mapped writable on the device or (*@ufault) its copy from
 * @ubuf would fault.
 */
unsigned long hmm_mock_mirror_write_user(struct hmm_mock_mirror *mirror, unsigned long addr,
					 unsigned long n, const void __user *ubuf, bool *ufault)
{
	unsigned long i, index = addr >> PAGE_SHIFT, nsys = 0, left = 0;
	struct page *sys[HMM_MOCK_BATCH];
	struct page *page;
	void *to;

	n = min_t(unsigned long, n, HMM_MOCK_BATCH);
	mutex_lock(&mirror->lock);
	pagefault_disable();
	for (i = 0; i < n; i++, ubuf += PAGE_SIZE) {
		page = hmm_mock_pt_lookup(mirror, index + i, HMM_MOCK_PT_WRITE);
		if (!page)
			break;
		to = kmap_local_page(hmm_mock_devmem_data(page));
		/* Not copy_from_user(): it would zero what it could not copy. */
		left = __copy_from_user_inatomic(to, ubuf, PAGE_SIZE);
		kunmap_local(to);
		if (left == PAGE_SIZE)
			break;
		if (hmm_mock_page_device(page)) {
			hmm_mock_devmem_mark_written(page);
		} else {
			get_page(page);
			sys[nsys++] = page;
		}
		if (left)
			break;
	}
	pagefault_enable();
	mutex_unlock(&mirror->lock);
	hmm_mock_mark_written(sys, nsys);
	*ufault = left;
	return i;
}
