// SPDX-License-Identifier: GPL-2.0
/*
 * Exclusive (atomic) device access: the CPU mappings of a range are
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

#include "compat.h"
#include "hmm_mock.h"

/*
 * Makes the page at @addr exclusive and maps it atomically on the device.
 * The page stays locked until it is in the device page table, and an
 * invalidation between the conversion and the mapping (other than the
 * conversion itself, which the mirror skips) makes us start over. One page
 * at a time: the kernel locks the whole folio, so holding two pages of one
 * large folio at once would deadlock.
 */
static int hmm_mock_exclusive_page(struct hmm_mock_mirror *mirror, unsigned long addr)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct page *page;
	unsigned long seq;
	int ret;

	do {
		if (time_after(jiffies, timeout))
			return -EBUSY;

		seq = mmu_interval_read_begin(&mirror->notifier);
		page = hmm_mock_make_page_exclusive(mirror->mm, addr, mirror->mdev);
		if (IS_ERR(page))
			return PTR_ERR(page);

		mutex_lock(&mirror->lock);
		if (mmu_interval_read_retry(&mirror->notifier, seq))
			ret = -EAGAIN;
		else
			ret = hmm_mock_pt_store(mirror, addr, page, HMM_MOCK_PT_ATOMIC);
		mutex_unlock(&mirror->lock);

		unlock_page(page);
		put_page(page);
	} while (ret == -EAGAIN);
	return ret;
}

int hmm_mock_cmd_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = mirror->mm;
	unsigned long addr;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EFAULT;

	hmm_mock_mirror_begin_migration(mirror);
	mmap_read_lock(mm);
	for (addr = start; addr < end && !ret; addr += PAGE_SIZE)
		ret = hmm_mock_exclusive_page(mirror, addr);
	/*
	 * All or nothing for the device: the pages converted before the
	 * failure lose their device entries (their CPU entries turn back on
	 * the next CPU access, as always).
	 */
	if (ret)
		hmm_mock_mirror_forget(mirror, start, addr);
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_migration(mirror);
	mmput(mm);

	/* Report what the device now holds, for verification. */
	if (!ret)
		ret = hmm_mock_mirror_copy_out(mirror, cmd);
	return ret;
}

int hmm_mock_cmd_check_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long first = cmd->addr >> PAGE_SHIFT;
	unsigned long last = first + cmd->npages - 1;
	unsigned long index;
	void *entry;
	int ret = 0;

	mutex_lock(&mirror->lock);
	xa_for_each_range(&mirror->pt, index, entry, first, last) {
		if (xa_pointer_tag(entry) == HMM_MOCK_PT_ATOMIC) {
			ret = -EPERM;
			break;
		}
	}
	mutex_unlock(&mirror->lock);
	return ret;
}
