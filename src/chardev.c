// SPDX-License-Identifier: GPL-2.0
/*
 * File operations of /dev/hmm_dmirror*: open binds a file to the opening
 * process's address space; every ioctl is checked here, once, before any
 * command code runs, so a malformed request fails with no side effects.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/hmm_mock.h>

#include "hmm_mock.h"

static int hmm_mock_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct hmm_mock_mirror *mirror;

	mirror = kzalloc(sizeof(*mirror), GFP_KERNEL);
	if (!mirror)
		return -ENOMEM;

	mirror->mdev = container_of(misc, struct hmm_mock_device, misc);
	mirror->mm = current->mm;
	mmgrab(mirror->mm);
	file->private_data = mirror;
	return 0;
}

static int hmm_mock_release(struct inode *inode, struct file *file)
{
	struct hmm_mock_mirror *mirror = file->private_data;

	mmdrop(mirror->mm);
	kfree(mirror);
	return 0;
}

/* Buffer behind cmd->ptr that command @op reads or writes, in bytes. */
static u64 hmm_mock_cmd_buf_size(unsigned int op, u64 npages)
{
	switch (op) {
	case HMM_DMIRROR_READ:
	case HMM_DMIRROR_WRITE:
	case HMM_DMIRROR_READ_UNLOCKED:
		return npages << PAGE_SHIFT;
	case HMM_DMIRROR_SNAPSHOT:
		return npages;
	default:
		return 0;
	}
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
	if (buf_size && !access_ok(u64_to_user_ptr(cmd->ptr), buf_size))
		return -EFAULT;
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
	/* The commands arrive with the driver core; until then none runs. */
	return -ENOTTY;
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
	case HMM_DMIRROR_READ_UNLOCKED:
		break;
	default:
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
	.unlocked_ioctl	= hmm_mock_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};
