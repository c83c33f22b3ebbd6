// SPDX-License-Identifier: GPL-2.0
/*
 * Device page table, layer 2: the device's view of a process, filled by
 * hmm_range_fault() and emptied by mmu interval notifier callbacks.
 */

/**
 * DOC: Device page table
 *
 * The device page table holds no page references. An entry may only be
 * installed under mirror->lock after mmu_interval_read_retry() has shown
 * that no invalidation ran since the hmm_range_fault() that produced it;
 * every invalidation clears the entries of its range under the same lock
 * before the CPU page table changes. So the device never touches a page
 * that is no longer mapped at that address.
 *
 * Migrations need nothing else: migrate_vma_setup() invalidates the range
 * before it replaces the CPU entries with migration entries and before any
 * page is copied, so no device access can land in a page whose contents
 * were already taken; faults that race with it retry, and faults after it
 * wait for the migration to finish and find the new page.
 *
 * EXCLUSIVE is the exception. It retries each page on the notifier
 * sequence until no other invalidation ran, but the conversion itself
 * invalidates (and so may a restore of an entry an earlier attempt made
 * exclusive, a PMD split, the CPU fault that brings a device page back
 * first, the pin that moves a coherent page to system memory before 6.15,
 * or reclaim in its own allocations), which would never settle. So the
 * invalidations raised by the task that called
 * hmm_mock_mirror_begin_exclusive() clear entries like any other but leave
 * the notifier sequence alone. That is only safe because nothing else can
 * install an entry meanwhile: EXCLUSIVE holds mirror->fault_lock for
 * writing, every fault of the file holds it for reading from its
 * hmm_range_fault() to its install.
 */
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "compat.h"
#include "devmem.h"
#include "mirror.h"

/*
 * Race widening for reproducers (HMM_MOCK_INJECT's revoke_delay_ms): the
 * first invalidation of one page the device holds exclusively, by a task
 * of the mirrored process other than our own EXCLUSIVE, sleeps before it
 * takes mirror->lock, on which a racing invalidation would wait. When a
 * CPU fault revokes the access, the kernel holds the page lock meanwhile
 * (remove_device_exclusive_entry()). Never a kernel thread: reclaim or
 * khugepaged would hold their locks as long. One load when unused.
 */
static void hmm_mock_mirror_revoke_delay(struct hmm_mock_mirror *mirror,
					 const struct mmu_notifier_range *range,
					 unsigned long index)
{
	atomic_t *knob = &mirror->mdev->inject.revoke_delay_ms;
	void *entry;
	int ms;

	if (likely(!atomic_read(knob)) || !mmu_notifier_range_blockable(range) ||
	    range->end - range->start != PAGE_SIZE || (current->flags & PF_KTHREAD) ||
	    current->mm != mirror->mm || READ_ONCE(mirror->exclusive_task) == current)
		return;
	entry = xa_load(&mirror->pt, index);
	if (!entry || xa_pointer_tag(entry) != HMM_MOCK_PT_ATOMIC)
		return;
	ms = atomic_xchg(knob, 0);
	if (ms)
		schedule_timeout_killable(msecs_to_jiffies(ms));
}

static bool hmm_mock_mirror_invalidate_cb(struct mmu_interval_notifier *mni,
					  const struct mmu_notifier_range *range,
					  unsigned long cur_seq)
{
	struct hmm_mock_mirror *mirror = container_of(mni, struct hmm_mock_mirror, notifier);
	unsigned long first = range->start >> PAGE_SHIFT;
	unsigned long last = (range->end - 1) >> PAGE_SHIFT;
	bool own = READ_ONCE(mirror->exclusive_task) == current;
	unsigned long index;
	void *entry;

	hmm_mock_mirror_revoke_delay(mirror, range, first);
	if (mmu_notifier_range_blockable(range))
		mutex_lock(&mirror->lock);
	else if (!mutex_trylock(&mirror->lock))
		return false;

	/* Raised by our own EXCLUSIVE: see DOC: Device page table. */
	if (!own)
		mmu_interval_set_seq(mni, cur_seq);
	xa_for_each_range(&mirror->pt, index, entry, first, last)
		xa_erase(&mirror->pt, index);

	mutex_unlock(&mirror->lock);
	/*
	 * An access held by settle_delay_ms goes on at once. No barrier: a
	 * wake-up missed here only lets that sleep run to its time limit.
	 */
	if (unlikely(waitqueue_active(&mirror->mdev->inject.settle_wait)))
		wake_up(&mirror->mdev->inject.settle_wait);
	return true;
}

static const struct mmu_interval_notifier_ops hmm_mock_mirror_notifier_ops = {
	.invalidate = hmm_mock_mirror_invalidate_cb,
};

/*
 * Teaches lockdep the order of DOC: Locking in main.c at open, so that the
 * debug lane checks it on every run rather than when reclaim happens to
 * hit an invalidation: fault_lock, then mmap_lock, then mirror->lock;
 * reclaim may take mirror->lock (the notifier), so nothing may allocate
 * with reclaim while holding it.
 */
static void hmm_mock_mirror_prime_lockdep(struct hmm_mock_mirror *mirror, struct mm_struct *mm)
{
	if (!IS_ENABLED(CONFIG_LOCKDEP))
		return;
	fs_reclaim_acquire(GFP_KERNEL);
	might_lock(&mirror->lock);
	fs_reclaim_release(GFP_KERNEL);

	down_write(&mirror->fault_lock);
	mmap_read_lock(mm);
	might_lock(&mirror->lock);
	mmap_read_unlock(mm);
	up_write(&mirror->fault_lock);
}

/**
 * hmm_mock_mirror_init() - start mirroring current->mm
 * @mirror: mirror with @mdev set
 *
 * Return: 0 or -errno.
 */
int hmm_mock_mirror_init(struct hmm_mock_mirror *mirror)
{
	mutex_init(&mirror->lock);
	init_rwsem(&mirror->fault_lock);
	xa_init(&mirror->pt);
	hmm_mock_mirror_prime_lockdep(mirror, current->mm);
	return mmu_interval_notifier_insert(&mirror->notifier, current->mm, 0,
					    ULONG_MAX & PAGE_MASK,
					    &hmm_mock_mirror_notifier_ops);
}

/**
 * hmm_mock_mirror_fini() - stop mirroring and drop the device page table
 * @mirror: the mirror; no command may be running on it
 */
void hmm_mock_mirror_fini(struct hmm_mock_mirror *mirror)
{
	mmu_interval_notifier_remove(&mirror->notifier);
	xa_destroy(&mirror->pt);
}

/**
 * hmm_mock_mirror_begin_exclusive() - mark the start of an EXCLUSIVE
 * @mirror: the mirror
 *
 * Takes @mirror->fault_lock for writing, so that no fault of this file
 * installs entries, and until hmm_mock_mirror_end_exclusive() the
 * invalidations the calling task raises do not move the notifier sequence
 * (see DOC: Device page table). Take before mmap_lock.
 *
 * Return: 0, or -EINTR on a fatal signal.
 */
int hmm_mock_mirror_begin_exclusive(struct hmm_mock_mirror *mirror)
{
	if (down_write_killable(&mirror->fault_lock))
		return -EINTR;
	WRITE_ONCE(mirror->exclusive_task, current);
	return 0;
}

/**
 * hmm_mock_mirror_end_exclusive() - mark its end
 * @mirror: the mirror; its fault_lock is released
 */
void hmm_mock_mirror_end_exclusive(struct hmm_mock_mirror *mirror)
{
	WRITE_ONCE(mirror->exclusive_task, NULL);
	up_write(&mirror->fault_lock);
}

/**
 * hmm_mock_mirror_forget() - drop device entries
 * @mirror:	the mirror
 * @start:	first address of the range
 * @end:	end address (exclusive)
 *
 * A failed EXCLUSIVE calls this to take back what it mapped.
 */
void hmm_mock_mirror_forget(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long end)
{
	unsigned long index;
	void *entry;

	mutex_lock(&mirror->lock);
	xa_for_each_range(&mirror->pt, index, entry, start >> PAGE_SHIFT,
			  (end - 1) >> PAGE_SHIFT)
		xa_erase(&mirror->pt, index);
	mutex_unlock(&mirror->lock);
}

/* Installs one entry; mirror->lock held. Returns 0 or -ENOMEM. */
static int hmm_mock_pt_store(struct hmm_mock_mirror *mirror, unsigned long addr,
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

/* One hmm_range_fault() over @range, with or without our mmap_lock. */
static int hmm_mock_range_fault_once(struct hmm_mock_mirror *mirror, struct hmm_range *range,
				     enum hmm_mock_fault_mode mode, unsigned long timeout)
{
	int ret;

	/*
	 * The kernel takes mmap_lock itself and may drop it in a fault. A
	 * timeout of 0 would mean none: at least a jiffy.
	 */
	if (mode == HMM_MOCK_FAULT_READ_UNLOCKED)
		return hmm_mock_range_fault_unlocked(range, max(1L, (long)(timeout - jiffies)));

	range->notifier_seq = mmu_interval_read_begin(range->notifier);
	mmap_read_lock(mirror->mm);
	ret = hmm_range_fault(range);
	mmap_read_unlock(mirror->mm);
	return ret;
}

/*
 * Race widening for reproducers (HMM_MOCK_INJECT's settle_delay_ms): the
 * next device access sleeps after hmm_range_fault(), holding no mm lock,
 * until an invalidation moves @range's sequence or the knob's time is up,
 * so that a test can invalidate before the sequence check. Returns the
 * jiffies it slept, which the access's own time limit does not count;
 * one load when unused.
 */
static unsigned long hmm_mock_mirror_settle_delay(struct hmm_mock_mirror *mirror,
						  struct hmm_range *range)
{
	struct hmm_mock_inject_state *in = &mirror->mdev->inject;
	unsigned long t;
	long left;

	if (likely(!atomic_read(&in->settle_delay_ms)))
		return 0;
	t = msecs_to_jiffies(atomic_xchg(&in->settle_delay_ms, 0));
	if (!t)
		return 0;
	atomic_long_inc(&in->settle_sleeps);
	left = wait_event_killable_timeout(in->settle_wait,
					   mmu_interval_check_retry(range->notifier,
								    range->notifier_seq), t);
	return left > 0 ? t - left : t;
}

/*
 * Runs hmm_range_fault() on @range until it completes without a racing
 * invalidation, then returns 0 with mirror->lock held so that the caller
 * can use the result. The caller holds mirror->fault_lock for reading.
 */
static int hmm_mock_range_fault_locked(struct hmm_mock_mirror *mirror, struct hmm_range *range,
				       enum hmm_mock_fault_mode mode)
{
	unsigned long timeout = jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	int ret;

	for (;;) {
		if (time_after_eq(jiffies, timeout))
			return -EBUSY;
		if (fatal_signal_pending(current))
			return -EINTR;

		ret = hmm_mock_range_fault_once(mirror, range, mode, timeout);
		if (ret == -EBUSY)
			continue;
		if (ret)
			return ret;

		timeout += hmm_mock_mirror_settle_delay(mirror, range);
		mutex_lock(&mirror->lock);
		if (!mmu_interval_read_retry(range->notifier, range->notifier_seq))
			return 0;
		mutex_unlock(&mirror->lock);
	}
}

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

static unsigned long hmm_mock_fault_flags(enum hmm_mock_fault_mode mode)
{
	switch (mode) {
	case HMM_MOCK_FAULT_READ:
	case HMM_MOCK_FAULT_READ_UNLOCKED:
		return HMM_PFN_REQ_FAULT;
	case HMM_MOCK_FAULT_WRITE:
		return HMM_PFN_REQ_FAULT | HMM_PFN_REQ_WRITE;
	default:
		return 0;
	}
}

/**
 * hmm_mock_mirror_fault() - fill the device page table for a range
 * @mirror:	the mirror
 * @start:	first address, page aligned
 * @end:	end address (exclusive)
 * @mode:	fault pages in for reading or writing, or map only the pages
 *		already on @mirror's device (HMM_MOCK_DEVICE_ONLY)
 * @readonly:	set on -EAGAIN
 *
 * Faults and maps one batch at a time. Caller holds no mm lock.
 *
 * Return: 0 when every page of the range is mapped (in DEVICE_ONLY mode:
 * every page on the device); -EAGAIN with *@readonly set to the address
 * of a page of @mirror's device that the CPU maps read-only in a writable
 * mapping (shared after fork), which hmm_range_fault() cannot upgrade:
 * the caller moves it to system memory, where the write fault breaks the
 * sharing like a CPU write would, and calls again; -EFAULT for an address
 * the device may not access that way, -EINTR on a fatal signal, -EBUSY,
 * -ENOMEM.
 */
int hmm_mock_mirror_fault(struct hmm_mock_mirror *mirror, unsigned long start,
			  unsigned long end, enum hmm_mock_fault_mode mode,
			  unsigned long *readonly)
{
	unsigned long pfns[HMM_MOCK_BATCH];
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.hmm_pfns = pfns,
		.default_flags = hmm_mock_fault_flags(mode),
		.dev_private_owner = mirror->mdev,
	};
	unsigned long addr;
	int ret = 0;

	if (!mmget_not_zero(mirror->mm))
		return -EFAULT;
	for (addr = start; addr < end; addr = range.end) {
		range.start = addr;
		range.end = min(end, addr + (HMM_MOCK_BATCH << PAGE_SHIFT));
		if (down_read_killable(&mirror->fault_lock)) {
			ret = -EINTR;
			break;
		}
		ret = hmm_mock_range_fault_locked(mirror, &range, mode);
		if (!ret) {
			*readonly = mode == HMM_MOCK_FAULT_WRITE ?
				    hmm_mock_first_readonly(&range) : 0;
			ret = *readonly ? -EAGAIN : hmm_mock_mirror_install(mirror, &range, mode);
			mutex_unlock(&mirror->lock);
		}
		up_read(&mirror->fault_lock);
		if (ret)
			break;
		cond_resched();
	}
	mmput(mirror->mm);
	return ret;
}

/**
 * hmm_mock_mirror_inspect() - look at the pages of a range while they hold still
 * @mirror:	the mirror
 * @start:	first address, page aligned
 * @npages:	pages, at most HMM_MOCK_BATCH
 * @fn:		called for each page, in order, with @arg, the page's index
 *		in the range and what the CPU and the device map there
 * @arg:	passed to @fn
 *
 * Walks the CPU page table with hmm_range_fault(), without faulting, until
 * no invalidation raced with the walk, then calls @fn with @mirror->lock
 * held: no invalidation of the range can complete meanwhile, so every page
 * handed to @fn stays mapped, and referenced, until @fn returns. @fn must
 * not sleep or take locks other than spinlocks. Caller holds no mm lock
 * and a reference on @mirror->mm.
 *
 * Return: 0 or -errno (-EINTR on a fatal signal, -EBUSY, -EFAULT).
 */
int hmm_mock_mirror_inspect(struct hmm_mock_mirror *mirror, unsigned long start,
			    unsigned long npages, hmm_mock_inspect_fn fn, void *arg)
{
	unsigned long pfns[HMM_MOCK_BATCH];
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.start = start,
		.end = start + (npages << PAGE_SHIFT),
		.hmm_pfns = pfns,
		.dev_private_owner = mirror->mdev,
	};
	struct hmm_mock_inspected seen;
	unsigned long i;
	void *entry;
	int ret;

	if (down_read_killable(&mirror->fault_lock))
		return -EINTR;
	ret = hmm_mock_range_fault_locked(mirror, &range, HMM_MOCK_DEVICE_ONLY);
	if (!ret) {
		for (i = 0; i < npages; i++) {
			entry = xa_load(&mirror->pt, (start >> PAGE_SHIFT) + i);
			seen.hmm_pfn = pfns[i];
			seen.page = pfns[i] & HMM_PFN_VALID ?
				    hmm_mock_range_page(pfns[i], start + (i << PAGE_SHIFT)) : NULL;
			seen.dev_page = entry ? xa_untag_pointer(entry) : NULL;
			seen.dev_tag = entry ? xa_pointer_tag(entry) : 0;
			fn(arg, i, &seen);
		}
		mutex_unlock(&mirror->lock);
	}
	up_read(&mirror->fault_lock);
	return ret;
}

/* hmm_mock_inspect_fn of a snapshot: the CPU's entries only. */
static void hmm_mock_snapshot_one(void *arg, unsigned long i, const struct hmm_mock_inspected *seen)
{
	((unsigned long *)arg)[i] = seen->hmm_pfn;
}

/**
 * hmm_mock_mirror_snapshot() - what the CPU page table holds, without faulting
 * @mirror:	the mirror
 * @start:	first address, page aligned
 * @npages:	pages, at most HMM_MOCK_BATCH
 * @pfns:	filled with hmm_range_fault() results (HMM_PFN_*)
 *
 * The result was the CPU page table's state at one moment (see
 * hmm_mock_mirror_inspect()). Caller holds no mm lock and a reference on
 * @mirror->mm (mmget).
 *
 * Return: 0 or -errno (-EINTR on a fatal signal, -EBUSY, -EFAULT).
 */
int hmm_mock_mirror_snapshot(struct hmm_mock_mirror *mirror, unsigned long start,
			     unsigned long npages, unsigned long *pfns)
{
	return hmm_mock_mirror_inspect(mirror, start, npages, hmm_mock_snapshot_one, pfns);
}

/**
 * hmm_mock_mirror_read_begin() - start of an exclusive-access attempt
 * @mirror: the mirror
 *
 * Return: the notifier sequence to hand to hmm_mock_mirror_map_exclusive().
 */
unsigned long hmm_mock_mirror_read_begin(struct hmm_mock_mirror *mirror)
{
	return mmu_interval_read_begin(&mirror->notifier);
}

/**
 * hmm_mock_mirror_map_exclusive() - map a page the device now holds exclusively
 * @mirror:	the mirror, inside hmm_mock_mirror_begin_exclusive()
 * @addr:	its address
 * @page:	the page, locked, converted to a device-exclusive entry after
 *		@seq was read
 * @seq:	from hmm_mock_mirror_read_begin()
 *
 * Return: 0, -EAGAIN when an invalidation other than the conversion ran
 * since @seq (start over), or -ENOMEM.
 */
int hmm_mock_mirror_map_exclusive(struct hmm_mock_mirror *mirror, unsigned long addr,
				  struct page *page, unsigned long seq)
{
	int ret = -EAGAIN;

	mutex_lock(&mirror->lock);
	if (!mmu_interval_read_retry(&mirror->notifier, seq))
		ret = hmm_mock_pt_store(mirror, addr, page, HMM_MOCK_PT_ATOMIC);
	mutex_unlock(&mirror->lock);
	return ret;
}

/**
 * hmm_mock_mirror_has_exclusive() - whether the device still holds any
 * page of a range exclusively
 * @mirror:	the mirror
 * @start:	first address
 * @npages:	pages
 *
 * Return: true when an exclusive entry is left (no CPU access revoked it).
 */
bool hmm_mock_mirror_has_exclusive(struct hmm_mock_mirror *mirror, unsigned long start,
				   unsigned long npages)
{
	unsigned long first = start >> PAGE_SHIFT, index;
	bool found = false;
	void *entry;

	mutex_lock(&mirror->lock);
	xa_for_each_range(&mirror->pt, index, entry, first, first + npages - 1) {
		if (xa_pointer_tag(entry) == HMM_MOCK_PT_ATOMIC) {
			found = true;
			break;
		}
	}
	mutex_unlock(&mirror->lock);
	return found;
}
