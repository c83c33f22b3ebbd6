// SPDX-License-Identifier: GPL-2.0
/*
 * Commands, layer 4: device accesses through the device page table (READ,
 * WRITE, SNAPSHOT), migration of ranges, eviction and fault injection, as
 * the HMM_DMIRROR_* ioctls ask for them. The character device has checked
 * every command before it gets here.
 */
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/hmm_mock.h>

#include "commands.h"
#include "compat.h"
#include "devmem.h"
#include "migrate.h"
#include "mirror.h"

/* Faults in a row without progress before a command gives up. */
#define HMM_MOCK_MAX_STALLS	16

/*
 * Pages one device fault maps at most: ahead of the access, as a device
 * prefetches, but bounded, so that a command over a huge range that keeps
 * getting invalidated does not re-fault the whole rest of it each time.
 */
#define HMM_MOCK_FAULT_AHEAD	(SZ_64M >> PAGE_SHIFT)

/* Unshares of one page in a row before a write fault gives up. */
#define HMM_MOCK_MAX_UNSHARES	16

/* First and end address of a command's range. */
static unsigned long hmm_mock_cmd_end(const struct hmm_dmirror_cmd *cmd)
{
	return cmd->addr + (cmd->npages << PAGE_SHIFT);
}

/* A bounce buffer for one batch of the command's range. */
static void *hmm_mock_bounce_alloc(const struct hmm_dmirror_cmd *cmd)
{
	return kvmalloc(min_t(u64, cmd->npages, HMM_MOCK_BATCH) << PAGE_SHIFT, GFP_KERNEL);
}

/*
 * A device access stopped at @ubuf because the user buffer needs a page
 * fault: faults the @len bytes from there in, without any lock held, for
 * the copy to try again. The buffer a READ fills is faulted in without
 * being written, since it may be the range the READ still has to copy.
 *
 * Return: 0, -EFAULT when not even the first page's worth can be faulted
 * in (the copy would stop there again), or -EINTR.
 */
static int hmm_mock_user_fault(void __user *ubuf, size_t len, enum hmm_mock_fault_mode mode)
{
	size_t left;

	if (fatal_signal_pending(current))
		return -EINTR;
	if (mode == HMM_MOCK_FAULT_WRITE)
		left = fault_in_readable(ubuf, len);
	else
		left = fault_in_safe_writeable(ubuf, len);
	if (len - left >= min_t(size_t, len, PAGE_SIZE))
		return 0;
	return fatal_signal_pending(current) ? -EINTR : -EFAULT;
}

/*
 * The device's page fault handler: maps [@addr, @end) for @mode, moving
 * pages of this device that the CPU shares read-only back to system
 * memory first when the device wants to write them.
 */
static int hmm_mock_device_fault(struct hmm_mock_mirror *mirror, unsigned long addr,
				 unsigned long end, enum hmm_mock_fault_mode mode)
{
	unsigned long readonly, last = 0, unshares = 0;
	int ret;

	for (;;) {
		ret = hmm_mock_mirror_fault(mirror, addr, end, mode, &readonly);
		if (ret != -EAGAIN)
			return ret;
		/* Each page once, unless something keeps sharing it again. */
		unshares = readonly == last ? unshares + 1 : 0;
		if (unshares > HMM_MOCK_MAX_UNSHARES)
			return -EBUSY;
		last = readonly;
		ret = hmm_mock_migrate_unshare(mirror, readonly);
		if (ret)
			return ret;
		/* Batches before the one with @readonly are mapped already. */
		addr += rounddown(readonly - addr, HMM_MOCK_BATCH << PAGE_SHIFT);
	}
}

/*
 * A device access stopped at @addr: fault the range from there in, as a
 * device would on a page fault, and count the fault.
 */
static int hmm_mock_access_fault(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd,
				 unsigned long addr, enum hmm_mock_fault_mode mode)
{
	unsigned long end;
	int ret;

	end = min(hmm_mock_cmd_end(cmd), addr + (HMM_MOCK_FAULT_AHEAD << PAGE_SHIFT));
	ret = hmm_mock_device_fault(mirror, addr, end, mode);
	if (!ret)
		cmd->faults++;
	return ret;
}

/*
 * Moves @n pages at @addr between the device's view and @ubuf, in the
 * direction of @mode, faulting the device page table or @ubuf in where
 * the copy stops. Gives up after HMM_MOCK_MAX_STALLS faults in a row that
 * let nothing through (an invalidation storm). Returns the pages moved;
 * on failure *@ret is set and fewer moved.
 */
static unsigned long hmm_mock_access_batch(struct hmm_mock_mirror *mirror,
					   struct hmm_dmirror_cmd *cmd, unsigned long addr,
					   unsigned long n, void __user *ubuf,
					   enum hmm_mock_fault_mode mode, unsigned long *stalls,
					   int *ret)
{
	unsigned long done = 0, copied, at;
	bool ufault;

	while (!*ret) {
		at = addr + (done << PAGE_SHIFT);
		if (mode == HMM_MOCK_FAULT_WRITE)
			copied = hmm_mock_mirror_write_user(mirror, at, n - done,
							    ubuf + (done << PAGE_SHIFT), &ufault);
		else
			copied = hmm_mock_mirror_read_user(mirror, at, n - done,
							   ubuf + (done << PAGE_SHIFT), &ufault);
		done += copied;
		if (done == n)
			break;
		if (copied) {
			*stalls = 0;
		} else if (++*stalls > HMM_MOCK_MAX_STALLS) {
			*ret = -EBUSY;
			break;
		}
		if (ufault)
			*ret = hmm_mock_user_fault(ubuf + (done << PAGE_SHIFT),
						   (n - done) << PAGE_SHIFT, mode);
		else
			*ret = hmm_mock_access_fault(mirror, cmd, at + (copied << PAGE_SHIFT),
						     mode);
	}
	return done;
}

/*
 * READ, READ_UNLOCKED and WRITE: move the range between cmd->ptr and what
 * the device sees, one batch at a time, straight between the user's
 * buffer and the pages, as a device's DMA would; cmd->cpages counts the
 * pages moved. A WRITE first checks that its batch's buffer can be read,
 * so that a buffer ending early writes nothing of that batch.
 */
static int hmm_mock_access(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd,
			   enum hmm_mock_fault_mode mode)
{
	unsigned long start = cmd->addr, end = hmm_mock_cmd_end(cmd), addr = start, stalls = 0;
	void __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long n, done;
	void __user *ubuf;
	int ret = 0;

	while (addr < end && !ret) {
		if (fatal_signal_pending(current))
			return -EINTR;
		n = min_t(unsigned long, HMM_MOCK_BATCH, (end - addr) >> PAGE_SHIFT);
		ubuf = uptr + (addr - start);
		if (mode == HMM_MOCK_FAULT_WRITE && fault_in_readable(ubuf, n << PAGE_SHIFT)) {
			ret = -EFAULT;
			break;
		}
		done = hmm_mock_access_batch(mirror, cmd, addr, n, ubuf, mode, &stalls, &ret);
		cmd->cpages += done;
		addr += done << PAGE_SHIFT;
		cond_resched();
	}
	return ret;
}

/**
 * hmm_mock_cmd_read() - HMM_DMIRROR_READ
 * @mirror:	the mirror
 * @cmd:	the command, checked; cmd->faults counts device faults
 *
 * Return: 0 or -errno; cmd->cpages says how far it got.
 */
int hmm_mock_cmd_read(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_access(mirror, cmd, HMM_MOCK_FAULT_READ);
}

/**
 * hmm_mock_cmd_read_unlocked() - HMM_DMIRROR_READ_UNLOCKED
 * @mirror:	the mirror
 * @cmd:	the command, checked
 *
 * Like READ, but faults run without mmap_lock held by the driver, so that
 * fault handlers which drop it (userfaultfd) can serve them. Only where
 * HMM_MOCK_CAN_FAULT_UNLOCKED.
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_read_unlocked(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_access(mirror, cmd, HMM_MOCK_FAULT_READ_UNLOCKED);
}

/**
 * hmm_mock_cmd_write() - HMM_DMIRROR_WRITE
 * @mirror:	the mirror
 * @cmd:	the command, checked; cmd->faults counts device faults
 *
 * Writes cmd->ptr through the device to the range.
 *
 * Return: 0 or -errno; cmd->cpages counts the pages written.
 */
int hmm_mock_cmd_write(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_access(mirror, cmd, HMM_MOCK_FAULT_WRITE);
}

/*
 * hmm_mock_cmd_copy_out() for @n pages from @addr whose buffer @ubuf needs
 * a fault: read into @bounce first, as before any fault on @ubuf. The
 * buffer may be the range itself, and faulting it in would move the pages
 * out of the device's view. Returns the pages copied; *@ret is set on
 * failure.
 */
static unsigned long hmm_mock_copy_out_bounced(struct hmm_mock_mirror *mirror, unsigned long addr,
					       unsigned long n, void __user *ubuf, void *bounce,
					       int *ret)
{
	unsigned long done = hmm_mock_mirror_read(mirror, addr, n, bounce);

	if (copy_to_user(ubuf, bounce, done << PAGE_SHIFT)) {
		*ret = fatal_signal_pending(current) ? -EINTR : -EFAULT;
		return 0;
	}
	return done;
}

/**
 * hmm_mock_cmd_copy_out() - copy what the device holds to cmd->ptr
 * @mirror:	the mirror
 * @cmd:	range and user buffer; cmd->cpages counts the pages copied
 *
 * Uses only entries already in the device page table, never faults: the
 * report after MIGRATE_TO_DEV and EXCLUSIVE. Copies straight to the
 * buffer, or through a bounce buffer where the buffer needs a fault.
 *
 * Return: 0, -ENOENT when a page of the range is not mapped on the device,
 * -EFAULT, -ENOMEM or -EINTR.
 */
int hmm_mock_cmd_copy_out(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = hmm_mock_cmd_end(cmd), addr;
	void __user *uptr = u64_to_user_ptr(cmd->ptr);
	void *bounce = NULL;
	int ret = 0;

	for (addr = start; addr < end && !ret; ) {
		unsigned long n = min_t(unsigned long, HMM_MOCK_BATCH, (end - addr) >> PAGE_SHIFT);
		void __user *ubuf = uptr + (addr - start);
		unsigned long done;
		bool ufault;

		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		done = hmm_mock_mirror_read_user(mirror, addr, n, ubuf, &ufault);
		if (ufault && !bounce)
			bounce = hmm_mock_bounce_alloc(cmd);
		if (ufault && !bounce)
			ret = -ENOMEM;
		else if (ufault)
			done += hmm_mock_copy_out_bounced(mirror, addr + (done << PAGE_SHIFT),
							  n - done, ubuf + (done << PAGE_SHIFT),
							  bounce, &ret);
		cmd->cpages += done;
		addr += done << PAGE_SHIFT;
		if (!ret && done < n)
			ret = -ENOENT;
		cond_resched();
	}
	kvfree(bounce);
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

/**
 * hmm_mock_cmd_snapshot() - HMM_DMIRROR_SNAPSHOT
 * @mirror:	the mirror
 * @cmd:	the command, checked
 *
 * Writes one HMM_DMIRROR_PROT_* byte per page of the range to cmd->ptr:
 * what the CPU page table holds, as the device sees it, without faulting.
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_snapshot(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = hmm_mock_cmd_end(cmd);
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long pfns[HMM_MOCK_BATCH];
	u8 prot[HMM_MOCK_BATCH];
	unsigned long addr, i, n;
	int ret = 0;

	if (!mmget_not_zero(mirror->mm))
		return -EFAULT;
	for (addr = start; addr < end; addr += n << PAGE_SHIFT) {
		n = min_t(unsigned long, HMM_MOCK_BATCH, (end - addr) >> PAGE_SHIFT);
		ret = hmm_mock_mirror_snapshot(mirror, addr, n, pfns);
		if (ret)
			break;
		for (i = 0; i < n; i++)
			prot[i] = hmm_mock_snapshot_byte(mirror, pfns[i]);
		if (copy_to_user(uptr, prot, n)) {
			ret = -EFAULT;
			break;
		}
		uptr += n;
		cmd->cpages += n;
		cond_resched();
	}
	mmput(mirror->mm);
	return ret;
}

/**
 * hmm_mock_cmd_migrate_to_dev() - HMM_DMIRROR_MIGRATE_TO_DEV
 * @mirror:	the mirror
 * @cmd:	the command, checked
 *
 * Moves what can move to the device, then reports in cmd->ptr what the
 * device holds.
 *
 * Return: 0, or -errno; -ENOENT when some page is not on the device.
 */
int hmm_mock_cmd_migrate_to_dev(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	int ret;

	ret = hmm_mock_migrate_to_device(mirror, cmd->addr, hmm_mock_cmd_end(cmd));
	if (!ret)
		ret = hmm_mock_cmd_copy_out(mirror, cmd);
	return ret;
}

/**
 * hmm_mock_cmd_migrate_to_sys() - HMM_DMIRROR_MIGRATE_TO_SYS
 * @mirror:	the mirror
 * @cmd:	the command, checked; cmd->cpages counts the pages moved
 *
 * Return: 0 or -errno.
 */
int hmm_mock_cmd_migrate_to_sys(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_migrate_to_system(mirror, cmd->addr, hmm_mock_cmd_end(cmd), &cmd->cpages);
}

/**
 * hmm_mock_cmd_release() - HMM_DMIRROR_RELEASE
 * @mirror:	the mirror; the whole device is evicted, for every process
 * @cmd:	unused
 *
 * Return: 0, or -EBUSY when some device page stayed busy.
 */
int hmm_mock_cmd_release(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	return hmm_mock_evict_device(mirror->mdev);
}

/**
 * hmm_mock_cmd_flags() - HMM_DMIRROR_FLAGS
 * @mirror:	the mirror
 * @cmd:	cmd->npages holds the HMM_DMIRROR_FLAG_* to set, checked
 *
 * FLAG_FAIL_ALLOC fails this file's next device memory allocation; on a
 * device with large folios, until then it also denies a huge page to the
 * next CPU fault on one of them.
 *
 * Return: 0.
 */
int hmm_mock_cmd_flags(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	WRITE_ONCE(mirror->flags, cmd->npages);
	/* The CPU fault has no file: the device remembers it for the next one. */
	if ((cmd->npages & HMM_DMIRROR_FLAG_FAIL_ALLOC) && hmm_mock_devmem_large(mirror->mdev))
		atomic_set(&mirror->mdev->inject.fault_no_thp, 1);
	return 0;
}

/**
 * hmm_mock_cmd_stats() - HMM_MOCK_STATS
 * @mdev:	the device
 * @stats:	filled in
 */
void hmm_mock_cmd_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats)
{
	hmm_mock_devmem_stats(mdev, stats);
	hmm_mock_migrate_stats(mdev, stats);
	stats->settle_sleeps = atomic_long_read(&mdev->inject.settle_sleeps);
}
