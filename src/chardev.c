// SPDX-License-Identifier: GPL-2.0
/*
 * Character device, layer 5: the file operations of /dev/hmm_dmirror*.
 * Open binds a file to the opening
 * process's address space; every ioctl is checked here, once, before any
 * command code runs, so a malformed request fails with no side effects.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <uapi/hmm_mock.h>

#include "chardev.h"
#include "commands.h"
#include "compat.h"
#include "hmm_mock.h"
#include "migrate.h"
#include "mirror.h"

static int hmm_mock_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct hmm_mock_mirror *mirror;
	int ret;

	mirror = kzalloc_obj(*mirror, GFP_KERNEL);
	if (!mirror)
		return -ENOMEM;

	mirror->mdev = container_of(misc, struct hmm_mock_device, misc);
	mirror->mm = current->mm;
	ret = hmm_mock_mirror_init(mirror);
	if (ret) {
		kfree(mirror);
		return ret;
	}
	mmgrab(mirror->mm);

	mutex_lock(&mirror->mdev->open_lock);
	mirror->mdev->open_count++;
	mutex_unlock(&mirror->mdev->open_lock);

	file->private_data = mirror;
	return 0;
}

/* Seconds between evictions of a device that user space holds pages of. */
#define HMM_MOCK_EVICT_RETRY	1

/*
 * The last close could not evict everything: user space holds device
 * pages (a pin, a page spliced into a pipe), or a large device folio found
 * no huge page to move into. Unload could not free them either, so the
 * module stays in use: rmmod fails with -EBUSY rather than block in
 * memunmap_pages(). Eviction is retried until it succeeds or a file is
 * opened again (its last close starts over).
 */
static void hmm_mock_keep_module(struct hmm_mock_device *mdev)
{
	mutex_lock(&mdev->open_lock);
	if (!mdev->open_count) {
		if (!mdev->holds_module) {
			pr_warn("%s: device pages still in use after the last close (held by user space?); module in use until they can be moved\n",
				mdev->name);
			mdev->holds_module = true;
			__module_get(THIS_MODULE);
		}
		schedule_delayed_work(&mdev->evict_work, HMM_MOCK_EVICT_RETRY * HZ);
	}
	mutex_unlock(&mdev->open_lock);
}

/**
 * hmm_mock_evict_retry() - retry the eviction a last close could not finish
 * @work: &hmm_mock_device.evict_work
 *
 * Drops the module reference of hmm_mock_keep_module() once eviction
 * succeeds or the device is open again. The module's exit waits for this
 * work, so it may drop the last reference.
 */
void hmm_mock_evict_retry(struct work_struct *work)
{
	struct hmm_mock_device *mdev = container_of(to_delayed_work(work), struct hmm_mock_device,
						    evict_work);
	bool open, freed = false, put = false;

	mutex_lock(&mdev->open_lock);
	open = mdev->open_count;
	mutex_unlock(&mdev->open_lock);
	/* Not under open_lock: open() runs under the misc core's global lock. */
	if (!open)
		freed = !hmm_mock_evict_device_once(mdev);

	mutex_lock(&mdev->open_lock);
	open = mdev->open_count;
	if (mdev->holds_module && (freed || open)) {
		mdev->holds_module = false;
		put = true;
	} else if (mdev->holds_module) {
		schedule_delayed_work(&mdev->evict_work, HMM_MOCK_EVICT_RETRY * HZ);
	}
	mutex_unlock(&mdev->open_lock);
	if (!put)
		return;
	if (freed)
		pr_info("%s: device memory free again after the last close\n", mdev->name);
	else
		pr_info("%s: opened again; its last close evicts anew\n", mdev->name);
	module_put(THIS_MODULE);
}

/*
 * Closing the last file of a device moves all its memory back to system
 * memory: with nobody left to drive the device, the data must not stay
 * where only the device can reach it. Pages still mapped by processes
 * keep their contents.
 */
static int hmm_mock_release(struct inode *inode, struct file *file)
{
	struct hmm_mock_mirror *mirror = file->private_data;
	struct hmm_mock_device *mdev = mirror->mdev;
	bool last;

	hmm_mock_mirror_fini(mirror);
	mmdrop(mirror->mm);
	kfree(mirror);

	mutex_lock(&mdev->open_lock);
	last = !--mdev->open_count;
	mutex_unlock(&mdev->open_lock);
	/*
	 * Not under open_lock: eviction may take a second, and open() of every
	 * misc device waits for ours under the misc core's lock. A file opened
	 * meanwhile may see its new device pages move back; nothing is lost.
	 */
	if (!last)
		return 0;
	/* Nobody is left to want the fault injection. */
	hmm_mock_cmd_inject_reset(mdev);
	if (hmm_mock_evict_device(mdev))
		hmm_mock_keep_module(mdev);
	return 0;
}

/*
 * mmap of the node gives zeroed system pages mapped with vm_insert_pages(),
 * a VM_MIXEDMAP mapping as a driver exposing its own buffers would create.
 */
static int hmm_mock_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long npages = vma_pages(vma), done, n, i, left;
	struct page *pages[HMM_MOCK_BATCH];
	int ret;

	for (done = 0; done < npages; done += n) {
		n = min_t(unsigned long, npages - done, HMM_MOCK_BATCH);
		memset(pages, 0, sizeof(pages));
		if (hmm_mock_alloc_pages_bulk(GFP_KERNEL | __GFP_ZERO, n, pages) != n) {
			ret = -ENOMEM;
		} else {
			left = n;
			ret = vm_insert_pages(vma, vma->vm_start + (done << PAGE_SHIFT), pages,
					      &left);
		}
		/* The page table holds its own references. */
		for (i = 0; i < n; i++)
			if (pages[i])
				put_page(pages[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/* Buffer behind cmd->ptr that command @op reads or writes, in bytes. */
static u64 hmm_mock_cmd_buf_size(unsigned int op, u64 npages)
{
	switch (op) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_READ_UNLOCKED:
	case HMM_DMIRROR_MIGRATE_TO_DEV:
	case HMM_DMIRROR_EXCLUSIVE:
		return npages << PAGE_SHIFT;
	case HMM_DMIRROR_SNAPSHOT:
		return npages;
	default:
		return 0;
	}
}

/*
 * Whether [@start, @start + @size) of the caller's address space lies in
 * writable mappings: checked without touching it, so that a rejected
 * command faults nothing in (no populated pages, no COW, no userfault).
 */
static int hmm_mock_buf_writable(u64 start, u64 size)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	u64 addr;
	int ret = 0;

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	for (addr = start; addr < start + size; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_WRITE) || (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			ret = -EFAULT;
			break;
		}
	}
	mmap_read_unlock(mm);
	return ret;
}

/*
 * A range command names @npages pages from @addr in the caller's address
 * space: the range must be page aligned, non-empty and lie below TASK_SIZE
 * without wrapping; the buffer it reads or writes must be user memory.
 */
static int hmm_mock_cmd_check_range(unsigned int op, const struct hmm_dmirror_cmd *cmd)
{
	u64 max_pages = TASK_SIZE >> PAGE_SHIFT;
	u64 buf_size;

	if (!PAGE_ALIGNED(cmd->addr) || cmd->addr >= TASK_SIZE)
		return -EINVAL;
	if (!cmd->npages || cmd->npages > max_pages - (cmd->addr >> PAGE_SHIFT))
		return -EINVAL;

	buf_size = hmm_mock_cmd_buf_size(op, cmd->npages);
	if (!buf_size)
		return 0;
	if (!access_ok(u64_to_user_ptr(cmd->ptr), buf_size))
		return -EFAULT;
	/*
	 * MIGRATE_TO_DEV and EXCLUSIVE fill the buffer last, after pages
	 * changed places: it must lie in writable mappings before anything
	 * moves. The other commands stop harmlessly where their buffer ends.
	 */
	if (op == HMM_DMIRROR_MIGRATE_TO_DEV || op == HMM_DMIRROR_EXCLUSIVE)
		return hmm_mock_buf_writable(cmd->ptr, buf_size);
	return 0;
}

static int hmm_mock_cmd_check(unsigned int op, const struct hmm_dmirror_cmd *cmd)
{
	switch (op) {
	case HMM_DMIRROR_RELEASE:
		return 0;
	case HMM_DMIRROR_FLAGS:
		return cmd->npages & ~HMM_DMIRROR_FLAG_FAIL_ALLOC ? -EINVAL : 0;
	default:
		return hmm_mock_cmd_check_range(op, cmd);
	}
}

static int hmm_mock_cmd_run(struct hmm_mock_mirror *mirror, unsigned int op,
			    struct hmm_dmirror_cmd *cmd)
{
	switch (op) {
	case HMM_DMIRROR_READ:
		return hmm_mock_cmd_read(mirror, cmd);
	case HMM_DMIRROR_WRITE:
		return hmm_mock_cmd_write(mirror, cmd);
	case HMM_DMIRROR_MIGRATE_TO_DEV:
		return hmm_mock_cmd_migrate_to_dev(mirror, cmd);
	case HMM_DMIRROR_MIGRATE_TO_SYS:
		return hmm_mock_cmd_migrate_to_sys(mirror, cmd);
	case HMM_DMIRROR_SNAPSHOT:
		return hmm_mock_cmd_snapshot(mirror, cmd);
	case HMM_DMIRROR_EXCLUSIVE:
		return hmm_mock_cmd_exclusive(mirror, cmd);
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
		return hmm_mock_cmd_check_exclusive(mirror, cmd);
	case HMM_DMIRROR_RELEASE:
		return hmm_mock_cmd_release(mirror, cmd);
	case HMM_DMIRROR_FLAGS:
		return hmm_mock_cmd_flags(mirror, cmd);
	case HMM_DMIRROR_READ_UNLOCKED:
		return hmm_mock_cmd_read_unlocked(mirror, cmd);
	default:
		return -ENOTTY;
	}
}

/* Size of struct hmm_mock_stats before the large-folio counters. */
#define HMM_MOCK_STATS_SIZE_V1	offsetof(struct hmm_mock_stats, large_folio_pages)
/* ... and as it was before settle_sleeps, and before fault_around_pages. */
#define HMM_MOCK_STATS_SIZE_V2	offsetof(struct hmm_mock_stats, settle_sleeps)
#define HMM_MOCK_STATS_SIZE_V3	offsetof(struct hmm_mock_stats, fault_around_pages)

/*
 * HMM_MOCK_STATS: the structure only grows at its end, so a caller built
 * against an older header gets the prefix it knows.
 */
static bool hmm_mock_is_stats_op(unsigned int op)
{
	return _IOC_DIR(op) == _IOC_READ && _IOC_TYPE(op) == HMM_MOCK_IOC_TYPE &&
	       _IOC_NR(op) == _IOC_NR(HMM_MOCK_STATS) &&
	       (_IOC_SIZE(op) == sizeof(struct hmm_mock_stats) ||
		_IOC_SIZE(op) == HMM_MOCK_STATS_SIZE_V3 ||
		_IOC_SIZE(op) == HMM_MOCK_STATS_SIZE_V2 ||
		_IOC_SIZE(op) == HMM_MOCK_STATS_SIZE_V1);
}

/* Size of struct hmm_mock_inject before settle_delay_ms. */
#define HMM_MOCK_INJECT_SIZE_V1	offsetof(struct hmm_mock_inject, settle_delay_ms)

static bool hmm_mock_is_inject_op(unsigned int op)
{
	return _IOC_DIR(op) == _IOC_WRITE && _IOC_TYPE(op) == HMM_MOCK_IOC_TYPE &&
	       _IOC_NR(op) == _IOC_NR(HMM_MOCK_INJECT) &&
	       (_IOC_SIZE(op) == sizeof(struct hmm_mock_inject) ||
		_IOC_SIZE(op) == HMM_MOCK_INJECT_SIZE_V1);
}

static long hmm_mock_ioctl_stats(struct hmm_mock_mirror *mirror, void __user *uarg,
				 size_t size)
{
	struct hmm_mock_stats stats = {};

	hmm_mock_cmd_stats(mirror->mdev, &stats);
	return copy_to_user(uarg, &stats, size) ? -EFAULT : 0;
}

/* Size of struct hmm_mock_page_info as first published. */
#define HMM_MOCK_PAGE_INFO_SIZE_V1	32

static long hmm_mock_ioctl_page_info(struct hmm_mock_mirror *mirror, void __user *uarg)
{
	struct hmm_mock_page_info_cmd cmd;
	struct hmm_dmirror_cmd range;
	int ret;

	if (current->mm != mirror->mm)
		return -EPERM;
	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (cmd.pad || cmd.entry_size < HMM_MOCK_PAGE_INFO_SIZE_V1 || cmd.entry_size > PAGE_SIZE)
		return -EINVAL;
	range = (struct hmm_dmirror_cmd){ .addr = cmd.addr, .npages = cmd.npages };
	ret = hmm_mock_cmd_check_range(HMM_MOCK_PAGE_INFO, &range);
	if (ret)
		return ret;
	if (cmd.npages > U64_MAX / cmd.entry_size ||
	    !access_ok(u64_to_user_ptr(cmd.ptr), cmd.npages * cmd.entry_size))
		return -EFAULT;

	cmd.cpages = 0;
	ret = hmm_mock_cmd_page_info(mirror, &cmd);
	if (ret)
		return ret;
	return copy_to_user(uarg, &cmd, sizeof(cmd)) ? -EFAULT : 0;
}

static long hmm_mock_ioctl_inject(struct hmm_mock_mirror *mirror, void __user *uarg,
				  size_t size)
{
	struct hmm_mock_inject knobs = {};

	/* It slows or fails every process's faults on the device. */
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (copy_from_user(&knobs, uarg, size))
		return -EFAULT;
	if (knobs.fault_delay_ms > HMM_MOCK_INJECT_MAX_MS ||
	    knobs.hold_lock_ms > HMM_MOCK_INJECT_MAX_MS || knobs.fail_copies > INT_MAX ||
	    knobs.revoke_delay_ms > HMM_MOCK_INJECT_MAX_MS ||
	    knobs.settle_delay_ms > HMM_MOCK_INJECT_MAX_MS)
		return -EINVAL;
	hmm_mock_cmd_inject(mirror->mdev, &knobs);
	return 0;
}

static long hmm_mock_ioctl_check_free(struct hmm_mock_mirror *mirror, void __user *uarg)
{
	struct hmm_mock_free_check chk;
	int ret;

	ret = hmm_mock_cmd_check_free(mirror->mdev, &chk);
	if (ret)
		return ret;
	return copy_to_user(uarg, &chk, sizeof(chk)) ? -EFAULT : 0;
}

static long hmm_mock_ioctl(struct file *file, unsigned int op, unsigned long arg)
{
	struct hmm_mock_mirror *mirror = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct hmm_dmirror_cmd cmd;
	int ret;

	switch (op) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_MIGRATE_TO_DEV:
	case HMM_DMIRROR_MIGRATE_TO_SYS:
	case HMM_DMIRROR_SNAPSHOT:
	case HMM_DMIRROR_EXCLUSIVE:
	case HMM_DMIRROR_CHECK_EXCLUSIVE:
	case HMM_DMIRROR_RELEASE:
	case HMM_DMIRROR_FLAGS:
		break;
	case HMM_DMIRROR_READ_UNLOCKED:
		/* Needs a kernel whose hmm_range_fault() may drop mmap_lock. */
		if (!HMM_MOCK_CAN_FAULT_UNLOCKED)
			return -ENOTTY;
		break;
	case HMM_MOCK_PAGE_INFO:
		return hmm_mock_ioctl_page_info(mirror, uarg);
	case HMM_MOCK_CHECK_FREE:
		return hmm_mock_ioctl_check_free(mirror, uarg);
	default:
		if (hmm_mock_is_stats_op(op))
			return hmm_mock_ioctl_stats(mirror, uarg, _IOC_SIZE(op));
		if (hmm_mock_is_inject_op(op))
			return hmm_mock_ioctl_inject(mirror, uarg, _IOC_SIZE(op));
		return -ENOTTY;
	}

	/* A file acts only on the address space of the process that opened it. */
	if (current->mm != mirror->mm)
		return -EPERM;

	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	ret = hmm_mock_cmd_check(op, &cmd);
	if (ret)
		return ret;

	cmd.cpages = 0;
	cmd.faults = 0;
	ret = hmm_mock_cmd_run(mirror, op, &cmd);
	if (ret)
		return ret;

	return copy_to_user(uarg, &cmd, sizeof(cmd)) ? -EFAULT : 0;
}

const struct file_operations hmm_mock_fops = {
	.owner		= THIS_MODULE,
	.open		= hmm_mock_open,
	.release	= hmm_mock_release,
	.mmap		= hmm_mock_mmap,
	.unlocked_ioctl	= hmm_mock_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};
