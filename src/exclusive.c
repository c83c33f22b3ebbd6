// SPDX-License-Identifier: GPL-2.0
/*
 * Commands, layer 4: exclusive (atomic) device access. The CPU mappings of a range are
 * replaced by device-exclusive entries, so the device may operate on the
 * pages atomically until the CPU touches them again, which revokes the
 * access through an invalidation.
 */
#include <linux/jiffies.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <uapi/hmm_mock.h>

#include "commands.h"
#include "compat.h"
#include "migrate.h"
#include "mirror.h"

/*
 * A pinned device-coherent page at @addr is pinned again long-term, which
 * moves it to system memory (see hmm_mock_exclusive_pin()); *@page is
 * then the new pin. Other pages keep theirs. Caller holds off eviction.
 *
 * Return: 1 when *@page is pinned, else pin_user_pages()'s result, with
 * nothing pinned.
 */
static long hmm_mock_exclusive_pin_out(unsigned long addr, struct page **page)
{
	if (!is_device_coherent_page(*page))
		return 1;
	unpin_user_page(*page);
	return hmm_mock_pin_user_page(addr, FOLL_WRITE | FOLL_LONGTERM, page);
}

/*
 * Before 6.15 a device-exclusive entry does not count as a mapping of its
 * page, and the conversion turns every mapping of the page into such an
 * entry. For a device-coherent page that breaks eviction, which finds the
 * page unmapped and migrates it from under the entry: the page leaks and
 * the next rmap walk of its anon_vma reads freed memory. There the device
 * only gets exclusive access to system pages: a pin for writing breaks
 * copy-on-write sharing and keeps the page at @addr from migrating until
 * the conversion is done; a device-coherent page (any device's) is pinned
 * again long-term, which moves it to system memory. Only that one: a
 * long-term pin would also move every page out of ZONE_MOVABLE. So pages
 * the device holds stay where they are, and before 6.15 they keep memory
 * offlining from migrating them until the CPU takes them back (catalogue
 * E3), as with any driver. Eviction waits while the pins are taken
 * (hmm_mock_evict_hold_off()).
 *
 * Return: the pinned page, NULL where no pin is needed, or an ERR_PTR():
 * -EAGAIN when the page was busy and may be tried again.
 */
static struct page *hmm_mock_exclusive_pin(unsigned long addr)
{
	struct page *page;
	long ret;

	if (HMM_MOCK_EXCLUSIVE_KEEPS_MAPCOUNT || !IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		return NULL;
	hmm_mock_evict_hold_off();
	ret = hmm_mock_pin_user_page(addr, FOLL_WRITE, &page);
	if (ret == 1)
		ret = hmm_mock_exclusive_pin_out(addr, &page);
	hmm_mock_evict_resume();
	if (ret == 1)
		return page;
	return ERR_PTR(ret == 0 || ret == -EBUSY ? -EAGAIN : ret);
}

/*
 * hmm_mock_exclusive_pin() for the @n pages from @addr with one
 * pin_user_pages() call instead of one per page. Stops before the first
 * page it cannot pin as hmm_mock_exclusive_pin() would.
 *
 * Return: how many pages from @addr are pinned in @pinned; 0 where no
 * pin is needed or the first page failed (the page-by-page path pins it
 * again and sees why).
 */
static unsigned long hmm_mock_exclusive_pin_batch(unsigned long addr, unsigned long n,
						  struct page **pinned)
{
	unsigned long i;
	long got;

	if (HMM_MOCK_EXCLUSIVE_KEEPS_MAPCOUNT || !IS_ENABLED(CONFIG_DEVICE_PRIVATE))
		return 0;
	hmm_mock_evict_hold_off();
	got = max(hmm_mock_pin_user_pages(addr, n, FOLL_WRITE, pinned), 0L);
	for (i = 0; i < got; i++) {
		if (hmm_mock_exclusive_pin_out(addr + (i << PAGE_SHIFT), &pinned[i]) != 1) {
			unpin_user_pages(pinned + i + 1, got - i - 1);
			got = i;
		}
	}
	hmm_mock_evict_resume();
	return got;
}

/*
 * The pin holds the page, not the mapping: another thread may zap it
 * (MADV_DONTNEED) and migrate a new page at @addr to coherent memory
 * before the conversion. Such a page gets its CPU entry back at once (a
 * fault restores it) and the caller starts over, pinning it out.
 */
static bool hmm_mock_exclusive_moved_under_pin(struct mm_struct *mm, unsigned long addr,
					       struct page *pinned, struct page *page)
{
	if (!pinned || page == pinned || !is_device_coherent_page(page))
		return false;
	unlock_page(page);
	put_page(page);
	fixup_user_fault(mm, addr, FAULT_FLAG_WRITE, NULL);
	return true;
}

/*
 * Makes the page at @addr exclusive and maps it atomically on the device.
 * The page stays locked until it is in the device page table, and an
 * invalidation between the conversion and the mapping (other than the
 * conversion itself, which the mirror skips) makes us start over. One page
 * at a time: the kernel locks the whole folio, so holding two pages of one
 * large folio at once would deadlock. @pinned is the page's pin from
 * hmm_mock_exclusive_pin_batch(), or NULL to pin it here; it is dropped
 * either way.
 */
static int hmm_mock_exclusive_page(struct hmm_mock_mirror *mirror, unsigned long addr,
				   struct page *pinned)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct page *page;
	unsigned long seq;
	int ret;

	do {
		if (!pinned)
			pinned = hmm_mock_exclusive_pin(addr);
		if (IS_ERR(pinned)) {
			ret = PTR_ERR(pinned);
			pinned = NULL;
			continue;
		}
		seq = hmm_mock_mirror_read_begin(mirror);
		page = hmm_mock_make_page_exclusive(mirror->mm, addr, mirror->mdev);
		if (IS_ERR(page)) {
			ret = PTR_ERR(page);
		} else if (hmm_mock_exclusive_moved_under_pin(mirror->mm, addr, pinned, page)) {
			ret = -EAGAIN;
		} else {
			ret = hmm_mock_mirror_map_exclusive(mirror, addr, page, seq);
			unlock_page(page);
			put_page(page);
		}
		if (pinned)
			unpin_user_page(pinned);
		pinned = NULL;
	} while (ret == -EAGAIN && !time_after(jiffies, timeout));
	return ret == -EAGAIN ? -EBUSY : ret;
}

/*
 * hmm_mock_exclusive_page() for up to @n pages from @addr, pinned together
 * where pins are needed. @tried counts the pages it worked on, the one
 * that failed included, for the caller to take back on failure.
 *
 * Return: 0, -EINTR on a fatal signal, or hmm_mock_exclusive_page()'s error.
 */
static int hmm_mock_exclusive_batch(struct hmm_mock_mirror *mirror, unsigned long addr,
				    unsigned long n, unsigned long *tried)
{
	struct page *pinned[HMM_MOCK_BATCH];
	unsigned long got, i;
	int ret = 0;

	got = hmm_mock_exclusive_pin_batch(addr, min_t(unsigned long, n, HMM_MOCK_BATCH), pinned);
	/* Nothing pinned: one page, which pins itself if it needs to. */
	for (i = 0; i < max(got, 1UL) && !ret; i++) {
		ret = hmm_mock_exclusive_page(mirror, addr + (i << PAGE_SHIFT),
					      i < got ? pinned[i] : NULL);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	*tried = i;
	if (i < got)
		unpin_user_pages(pinned + i, got - i);
	return ret;
}

/**
 * hmm_mock_cmd_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @mirror:	the mirror
 * @cmd:	the command, checked
 *
 * All or nothing: on failure no page of the range stays mapped on the
 * device. On success cmd->ptr receives what the device holds. Before 6.15
 * device-coherent pages of the range move to system memory first (see
 * hmm_mock_exclusive_pin()).
 *
 * Return: 0 or -errno; -EBUSY when a page could not be made exclusive
 * (before 6.15 also a coherent page that could not move), -EFAULT when
 * part of the range is not writable, -ENOMEM, -EINTR on a fatal signal,
 * -EOPNOTSUPP on kernels without device-exclusive entries.
 */
int hmm_mock_cmd_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = mirror->mm;
	unsigned long addr, tried;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EFAULT;

	ret = hmm_mock_mirror_begin_exclusive(mirror);
	if (ret) {
		mmput(mm);
		return ret;
	}
	mmap_read_lock(mm);
	for (addr = start; addr < end && !ret; addr += tried << PAGE_SHIFT)
		ret = hmm_mock_exclusive_batch(mirror, addr, (end - addr) >> PAGE_SHIFT, &tried);
	/*
	 * All or nothing for the device: the pages converted before the
	 * failure lose their device entries (their CPU entries turn back on
	 * the next CPU access, as always).
	 */
	if (ret)
		hmm_mock_mirror_forget(mirror, start, addr);
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_exclusive(mirror);
	mmput(mm);

	/* Report what the device now holds, for verification. */
	if (!ret)
		ret = hmm_mock_cmd_copy_out(mirror, cmd);
	return ret;
}

/**
 * hmm_mock_cmd_check_exclusive() - HMM_DMIRROR_CHECK_EXCLUSIVE
 * @mirror:	the mirror
 * @cmd:	the command, checked
 *
 * Return: 0 when no page of the range is still exclusive to the device,
 * -EPERM otherwise.
 */
int hmm_mock_cmd_check_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_mirror_has_exclusive(mirror, cmd->addr, cmd->npages) ? -EPERM : 0;
}
