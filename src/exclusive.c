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
#include "mirror.h"

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

		seq = hmm_mock_mirror_read_begin(mirror);
		page = hmm_mock_make_page_exclusive(mirror->mm, addr, mirror->mdev);
		if (IS_ERR(page))
			return PTR_ERR(page);
		ret = hmm_mock_mirror_map_exclusive(mirror, addr, page, seq);
		unlock_page(page);
		put_page(page);
	} while (ret == -EAGAIN);
	return ret;
}

/**
 * hmm_mock_cmd_exclusive() - HMM_DMIRROR_EXCLUSIVE
 * @mirror:	the mirror
 * @cmd:	the command, checked
 *
 * All or nothing: on failure no page of the range stays mapped on the
 * device. On success cmd->ptr receives what the device holds.
 *
 * Return: 0 or -errno; -EBUSY when a page could not be made exclusive,
 * -EOPNOTSUPP on kernels without device-exclusive entries.
 */
int hmm_mock_cmd_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = mirror->mm;
	unsigned long addr;
	int ret = 0;

	if (!mmget_not_zero(mm))
		return -EFAULT;

	ret = hmm_mock_mirror_begin_exclusive(mirror);
	if (ret) {
		mmput(mm);
		return ret;
	}
	mmap_read_lock(mm);
	for (addr = start; addr < end && !ret; addr += PAGE_SIZE) {
		ret = hmm_mock_exclusive_page(mirror, addr);
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
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
