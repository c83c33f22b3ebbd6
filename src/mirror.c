// SPDX-License-Identifier: GPL-2.0
/*
 * The device's view of a process: a device page table filled by
 * hmm_range_fault() and emptied by mmu interval notifier callbacks, and
 * the commands that access memory through it (READ, WRITE, SNAPSHOT).
 *
 * The device page table holds no page references. An entry may only be
 * installed under mirror->lock after mmu_interval_read_retry() has shown
 * that no invalidation ran since the hmm_range_fault() that produced it;
 * every invalidation clears the entries of its range under the same lock
 * before the CPU page table changes. So the device never touches a page
 * that is no longer mapped at that address.
 *
 * The one invalidation a mirror skips is the one its own migration causes
 * (MMU_NOTIFY_MIGRATE, or MMU_NOTIFY_EXCLUSIVE for EXCLUSIVE, with our
 * device as owner, raised by the task running that command): the command
 * updates the table itself and bumps mirror->own_seq, which faults check
 * in addition to the notifier sequence. Other invalidations that command
 * raises clear entries as usual but are announced through own_seq only.
 * Other mirrors of the same device see every event like any other and
 * drop their entries.
 */
#include <linux/hmm.h>
#include <linux/highmem.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/hmm_mock.h>

#include "compat.h"
#include "hmm_mock.h"

/* How a fault fills the device page table. */
enum hmm_mock_fault_mode {
	HMM_MOCK_FAULT_READ,	/* fault pages in readable */
	HMM_MOCK_FAULT_READ_UNLOCKED, /* the same, letting faults drop mmap_lock */
	HMM_MOCK_FAULT_WRITE,	/* fault pages in writable */
	HMM_MOCK_DEVICE_ONLY,	/* no fault: map only pages on this device */
};

static bool hmm_mock_mirror_invalidate_cb(struct mmu_interval_notifier *mni,
					  const struct mmu_notifier_range *range,
					  unsigned long cur_seq)
{
	struct hmm_mock_mirror *mirror = container_of(mni, struct hmm_mock_mirror, notifier);
	unsigned long first = range->start >> PAGE_SHIFT;
	unsigned long last = (range->end - 1) >> PAGE_SHIFT;
	bool own = READ_ONCE(mirror->migrating) == current;
	unsigned long index;
	void *entry;

	if (own && (range->event == MMU_NOTIFY_MIGRATE || range->event == MMU_NOTIFY_EXCLUSIVE) &&
	    range->owner == mirror->mdev)
		return true;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&mirror->lock);
	else if (!mutex_trylock(&mirror->lock))
		return false;

	/*
	 * Raised on the way by our own command (a PMD split, or the restore
	 * of an entry an earlier attempt made exclusive): drop the entries
	 * and tell concurrent faults through own_seq, not through the
	 * notifier sequence our command itself retries on, which would
	 * never settle.
	 */
	if (own)
		mirror->own_seq++;
	else
		mmu_interval_set_seq(mni, cur_seq);
	xa_for_each_range(&mirror->pt, index, entry, first, last)
		xa_erase(&mirror->pt, index);

	mutex_unlock(&mirror->lock);
	return true;
}

static const struct mmu_interval_notifier_ops hmm_mock_mirror_notifier_ops = {
	.invalidate = hmm_mock_mirror_invalidate_cb,
};

int hmm_mock_mirror_init(struct hmm_mock_mirror *mirror)
{
	mutex_init(&mirror->lock);
	mutex_init(&mirror->migrate_lock);
	xa_init(&mirror->pt);
	return mmu_interval_notifier_insert(&mirror->notifier, current->mm, 0,
					    ULONG_MAX & PAGE_MASK,
					    &hmm_mock_mirror_notifier_ops);
}

void hmm_mock_mirror_fini(struct hmm_mock_mirror *mirror)
{
	mmu_interval_notifier_remove(&mirror->notifier);
	xa_destroy(&mirror->pt);
}

void hmm_mock_mirror_begin_migration(struct hmm_mock_mirror *mirror)
{
	mutex_lock(&mirror->migrate_lock);
	WRITE_ONCE(mirror->migrating, current);
}

void hmm_mock_mirror_end_migration(struct hmm_mock_mirror *mirror)
{
	WRITE_ONCE(mirror->migrating, NULL);
	mutex_unlock(&mirror->migrate_lock);
}

void hmm_mock_mirror_forget(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long end)
{
	unsigned long index;
	void *entry;

	mutex_lock(&mirror->lock);
	xa_for_each_range(&mirror->pt, index, entry, start >> PAGE_SHIFT,
			  (end - 1) >> PAGE_SHIFT)
		xa_erase(&mirror->pt, index);
	mirror->own_seq++;
	mutex_unlock(&mirror->lock);
}

int hmm_mock_pt_store(struct hmm_mock_mirror *mirror, unsigned long addr,
		      struct page *page, unsigned long tag)
{
	/* Atomic: invalidations take mirror->lock from reclaim. */
	return xa_err(xa_store(&mirror->pt, addr >> PAGE_SHIFT,
			       xa_tag_pointer(page, tag), GFP_ATOMIC));
}

/*
 * The page at @addr of a hmm_range_fault() result. For a device-private
 * PMD, hmm_vma_handle_absent_pmd() (7.3) reports the folio's first pfn for
 * every page when the range starts inside the PMD; taking the page by its
 * offset in the PMD-sized folio is right whether or not the kernel does.
 */
static struct page *hmm_mock_range_page(unsigned long pfn, unsigned long addr)
{
	struct page *page = hmm_pfn_to_page(pfn);
	struct folio *folio;

	if (hmm_pfn_to_map_order(pfn) + PAGE_SHIFT != PMD_SHIFT || !is_device_private_page(page))
		return page;
	folio = page_folio(page);
	if (folio_nr_pages(folio) != HMM_MOCK_PMD_NR)
		return page;
	return folio_page(folio, (addr & ~PMD_MASK) >> PAGE_SHIFT);
}

/* Installs the result of hmm_range_fault() for @range; mirror->lock held. */
static int hmm_mock_mirror_install(struct hmm_mock_mirror *mirror, struct hmm_range *range,
				   enum hmm_mock_fault_mode mode)
{
	unsigned long addr, i;
	int ret;

	for (addr = range->start, i = 0; addr < range->end; addr += PAGE_SIZE, i++) {
		unsigned long pfn = range->hmm_pfns[i];
		struct page *page;

		if (!(pfn & HMM_PFN_VALID)) {
			if (mode == HMM_MOCK_DEVICE_ONLY)
				continue;
			return -EFAULT;
		}
		page = hmm_mock_range_page(pfn, addr);
		if (mode == HMM_MOCK_DEVICE_ONLY && hmm_mock_page_device(page) != mirror->mdev)
			continue;
		ret = hmm_mock_pt_store(mirror, addr, page,
					pfn & HMM_PFN_WRITE ? HMM_MOCK_PT_WRITE : HMM_MOCK_PT_READ);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Runs hmm_range_fault() on @range until it completes without a racing
 * invalidation, then returns with mirror->lock held so that the caller
 * can use the result. With @unlocked, the kernel takes mmap_lock itself
 * and may drop it while a fault is handled.
 */
static int hmm_mock_range_fault_locked(struct hmm_mock_mirror *mirror, struct hmm_range *range,
				       bool unlocked)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	unsigned long own_seq;
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;

		own_seq = READ_ONCE(mirror->own_seq);
		if (unlocked) {
			ret = hmm_mock_range_fault_unlocked(range, timeout - jiffies);
		} else {
			range->notifier_seq = mmu_interval_read_begin(range->notifier);
			mmap_read_lock(mirror->mm);
			ret = hmm_range_fault(range);
			mmap_read_unlock(mirror->mm);
		}
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;

		mutex_lock(&mirror->lock);
		if (!mmu_interval_read_retry(range->notifier, range->notifier_seq) &&
		    own_seq == mirror->own_seq)
			return 0;
		mutex_unlock(&mirror->lock);
	}
}

/* Device pages a write fault may move back before it gives up. */
#define HMM_MOCK_MAX_UNSHARES	(4 * HMM_MOCK_BATCH)

/*
 * A write fault on one of our own device-private pages that the CPU maps
 * read-only comes back valid but not writable: hmm_range_fault() does not
 * fault device-private entries it may hand to their owner. Returns the
 * address of the first such page, or 0.
 */
static unsigned long hmm_mock_first_readonly(const struct hmm_range *range)
{
	unsigned long i, n = (range->end - range->start) >> PAGE_SHIFT;

	for (i = 0; i < n; i++)
		if ((range->hmm_pfns[i] & HMM_PFN_VALID) && !(range->hmm_pfns[i] & HMM_PFN_WRITE))
			return range->start + (i << PAGE_SHIFT);
	return 0;
}

/* Fills the device page table for [start, end). */
static int hmm_mock_mirror_fault(struct hmm_mock_mirror *mirror, unsigned long start,
				 unsigned long end, enum hmm_mock_fault_mode mode)
{
	unsigned long pfns[HMM_MOCK_BATCH];
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.hmm_pfns = pfns,
		.dev_private_owner = mirror->mdev,
	};
	unsigned long addr, unshares = 0;
	int ret = 0;

	if (mode == HMM_MOCK_FAULT_READ || mode == HMM_MOCK_FAULT_READ_UNLOCKED)
		range.default_flags = HMM_PFN_REQ_FAULT;
	else if (mode == HMM_MOCK_FAULT_WRITE)
		range.default_flags = HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;

	if (!mmget_not_zero(mirror->mm))
		return -EFAULT;
	for (addr = start; addr < end; ) {
		unsigned long readonly;

		range.start = addr;
		range.end = min(end, addr + (HMM_MOCK_BATCH << PAGE_SHIFT));
		ret = hmm_mock_range_fault_locked(mirror, &range,
						  mode == HMM_MOCK_FAULT_READ_UNLOCKED);
		if (ret)
			break;
		readonly = mode == HMM_MOCK_FAULT_WRITE ? hmm_mock_first_readonly(&range) : 0;
		if (readonly) {
			mutex_unlock(&mirror->lock);
			ret = -EBUSY;
			if (++unshares <= HMM_MOCK_MAX_UNSHARES)
				ret = hmm_mock_unshare_device_page(mirror, readonly);
			if (ret)
				break;
			continue;	/* fault the batch again */
		}
		ret = hmm_mock_mirror_install(mirror, &range, mode);
		mutex_unlock(&mirror->lock);
		if (ret)
			break;
		addr = range.end;
	}
	mmput(mirror->mm);
	return ret;
}

int hmm_mock_mirror_map_device_pages(struct hmm_mock_mirror *mirror, unsigned long start,
				     unsigned long end)
{
	return hmm_mock_mirror_fault(mirror, start, end, HMM_MOCK_DEVICE_ONLY);
}

/*
 * Copies up to @n pages at @addr between the device's view and @buf, in
 * the direction @to_device, stopping at the first page the device cannot
 * access that way. Returns the number of pages copied.
 */
static unsigned long hmm_mock_pt_copy(struct hmm_mock_mirror *mirror, unsigned long addr,
				      unsigned long n, void *buf, bool to_device)
{
	unsigned long i, index = addr >> PAGE_SHIFT;

	mutex_lock(&mirror->lock);
	for (i = 0; i < n; i++, buf += PAGE_SIZE) {
		void *entry = xa_load(&mirror->pt, index + i);
		struct page *page = xa_untag_pointer(entry);

		if (!page)
			break;
		page = hmm_mock_devmem_data(page);
		if (!to_device) {
			memcpy_from_page(buf, page, 0, PAGE_SIZE);
			continue;
		}
		if (xa_pointer_tag(entry) == HMM_MOCK_PT_READ)
			break;
		memcpy_to_page(page, 0, buf, PAGE_SIZE);
	}
	mutex_unlock(&mirror->lock);
	return i;
}

/* A bounce buffer for one batch of the command's range. */
static void *hmm_mock_bounce_alloc(const struct hmm_dmirror_cmd *cmd)
{
	return kvmalloc(min_t(u64, cmd->npages, HMM_MOCK_BATCH) << PAGE_SHIFT, GFP_KERNEL);
}

/* Faults in a row without progress before a command gives up. */
#define HMM_MOCK_MAX_STALLS	16

/*
 * READ and WRITE: walk the range in batches through the device page table,
 * faulting the whole rest of the range in when an entry is missing, as a
 * device would on a page fault. cmd->faults counts those faults.
 */
static int hmm_mock_access(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd,
			   enum hmm_mock_fault_mode mode)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	void __user *uptr = u64_to_user_ptr(cmd->ptr);
	bool write = mode == HMM_MOCK_FAULT_WRITE;
	unsigned long addr = start, stalls = 0;
	void *buf;
	int ret = 0;

	buf = hmm_mock_bounce_alloc(cmd);
	if (!buf)
		return -ENOMEM;

	while (addr < end) {
		unsigned long n = min_t(unsigned long, HMM_MOCK_BATCH, (end - addr) >> PAGE_SHIFT);
		unsigned long done = 0, copied;

		if (write && copy_from_user(buf, uptr + (addr - start), n << PAGE_SHIFT)) {
			ret = -EFAULT;
			break;
		}
		while (done < n) {
			copied = hmm_mock_pt_copy(mirror, addr + (done << PAGE_SHIFT), n - done,
						  buf + (done << PAGE_SHIFT), write);
			done += copied;
			if (copied)
				stalls = 0;
			if (done == n)
				break;
			if (!copied && ++stalls > HMM_MOCK_MAX_STALLS)
				ret = -EBUSY;
			if (!ret)
				ret = hmm_mock_mirror_fault(mirror, addr + (done << PAGE_SHIFT),
							    end, mode);
			if (ret)
				break;
			cmd->faults++;
		}
		if (!write && done &&
		    copy_to_user(uptr + (addr - start), buf, done << PAGE_SHIFT) && !ret)
			ret = -EFAULT;
		cmd->cpages += done;
		addr += done << PAGE_SHIFT;
		if (ret)
			break;
	}
	kvfree(buf);
	return ret;
}

int hmm_mock_cmd_read(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_access(mirror, cmd, HMM_MOCK_FAULT_READ);
}

int hmm_mock_cmd_read_unlocked(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_access(mirror, cmd, HMM_MOCK_FAULT_READ_UNLOCKED);
}

int hmm_mock_cmd_write(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_access(mirror, cmd, HMM_MOCK_FAULT_WRITE);
}

int hmm_mock_mirror_copy_out(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	void __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long addr;
	void *buf;
	int ret = 0;

	buf = hmm_mock_bounce_alloc(cmd);
	if (!buf)
		return -ENOMEM;

	for (addr = start; addr < end; ) {
		unsigned long n = min_t(unsigned long, HMM_MOCK_BATCH, (end - addr) >> PAGE_SHIFT);
		unsigned long done = hmm_mock_pt_copy(mirror, addr, n, buf, false);

		if (copy_to_user(uptr + (addr - start), buf, done << PAGE_SHIFT)) {
			ret = -EFAULT;
			break;
		}
		cmd->cpages += done;
		addr += done << PAGE_SHIFT;
		if (done < n) {
			ret = -ENOENT;
			break;
		}
	}
	kvfree(buf);
	return ret;
}

/* The SNAPSHOT byte for one hmm_range_fault() result. */
static u8 hmm_mock_snapshot_byte(struct hmm_mock_mirror *mirror, unsigned long pfn)
{
	struct hmm_mock_device *owner;
	struct page *page;
	unsigned int order;
	u8 prot;

	if (pfn & HMM_PFN_ERROR)
		return HMM_DMIRROR_PROT_ERROR;
	if (!(pfn & HMM_PFN_VALID))
		return HMM_DMIRROR_PROT_NONE;

	page = hmm_pfn_to_page(pfn);
	owner = hmm_mock_page_device(page);
	if (is_device_private_page(page))
		prot = owner == mirror->mdev ? HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL :
					       HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE;
	else if (is_device_coherent_page(page))
		prot = owner == mirror->mdev ? HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL :
					       HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		prot = HMM_DMIRROR_PROT_ZERO;
	else
		prot = HMM_DMIRROR_PROT_NONE;

	prot |= pfn & HMM_PFN_WRITE ? HMM_DMIRROR_PROT_WRITE : HMM_DMIRROR_PROT_READ;
	order = hmm_pfn_to_map_order(pfn);
	if (order + PAGE_SHIFT == PMD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PMD;
	else if (order + PAGE_SHIFT == PUD_SHIFT)
		prot |= HMM_DMIRROR_PROT_PUD;
	return prot;
}

int hmm_mock_cmd_snapshot(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long pfns[HMM_MOCK_BATCH];
	u8 prot[HMM_MOCK_BATCH];
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.hmm_pfns = pfns,
		.dev_private_owner = mirror->mdev,
	};
	unsigned long addr, i, n;
	int ret = 0;

	if (!mmget_not_zero(mirror->mm))
		return -EFAULT;
	for (addr = start; addr < end; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + (HMM_MOCK_BATCH << PAGE_SHIFT));
		n = (range.end - range.start) >> PAGE_SHIFT;

		ret = hmm_mock_range_fault_locked(mirror, &range, false);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			prot[i] = hmm_mock_snapshot_byte(mirror, pfns[i]);
		mutex_unlock(&mirror->lock);

		if (copy_to_user(uptr, prot, n)) {
			ret = -EFAULT;
			break;
		}
		uptr += n;
		cmd->cpages += n;
	}
	mmput(mirror->mm);
	return ret;
}
