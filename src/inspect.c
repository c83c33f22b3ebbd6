// SPDX-License-Identifier: GPL-2.0
/*
 * Commands, layer 4: hmm-mock's introspection and fault injection
 * (HMM_MOCK_PAGE_INFO, HMM_MOCK_INJECT, HMM_MOCK_CHECK_FREE), for tests
 * that reproduce reference-count and map-count bugs around device pages.
 * A driver needs none of this to work; it is here so that a test can see
 * what the kernel did to a page, and widen the races it wants to hit.
 */
#include <linux/hmm.h>
#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/hmm_mock.h>

#include "commands.h"
#include "compat.h"
#include "devmem.h"
#include "hmm_mock.h"
#include "mirror.h"

/* One batch of HMM_MOCK_PAGE_INFO entries, filled under the mirror lock. */
struct hmm_mock_info_batch {
	struct hmm_mock_page_info info[HMM_MOCK_BATCH];
};

/* The page a test asks about: what the CPU maps, else what the device holds. */
static struct page *hmm_mock_inspected_page(const struct hmm_mock_inspected *seen)
{
	if (seen->page)
		return seen->page;
	if (seen->dev_page && seen->dev_tag == HMM_MOCK_PT_ATOMIC)
		return seen->dev_page;	/* behind a device-exclusive entry */
	return NULL;
}

/*
 * @map_order: order of the CPU mapping. A folio mapped whole (hugetlb, a
 * PMD) keeps its AnonExclusive bit in its first page.
 */
static u32 hmm_mock_page_flags(struct page *page, unsigned int map_order)
{
	struct folio *folio = page_folio(page);
	u32 flags = HMM_MOCK_PAGE_PRESENT;

	if (folio_test_anon(folio)) {
		flags |= HMM_MOCK_PAGE_ANON;
		if (PageAnonExclusive(folio_test_hugetlb(folio) || map_order ? &folio->page : page))
			flags |= HMM_MOCK_PAGE_ANON_EXCLUSIVE;
	}
	if (folio_test_locked(folio))
		flags |= HMM_MOCK_PAGE_LOCKED;
	if (is_zero_pfn(page_to_pfn(page)))
		flags |= HMM_MOCK_PAGE_ZERO;
	return flags;
}

/* hmm_mock_inspect_fn for HMM_MOCK_PAGE_INFO; runs under the mirror lock. */
static void hmm_mock_page_info_one(void *arg, unsigned long i,
				   const struct hmm_mock_inspected *seen)
{
	struct hmm_mock_page_info *info = &((struct hmm_mock_info_batch *)arg)->info[i];
	struct page *page = hmm_mock_inspected_page(seen);
	unsigned int map_order = seen->page ? hmm_pfn_to_map_order(seen->hmm_pfn) : 0;
	struct hmm_mock_device *owner;

	memset(info, 0, sizeof(*info));
	info->device = -1;
	if (seen->hmm_pfn & HMM_PFN_WRITE)
		info->flags |= HMM_MOCK_PAGE_CPU_WRITE;
	if (seen->dev_page) {
		info->flags |= HMM_MOCK_PAGE_DEVICE_MAPPED;
		if (seen->dev_tag >= HMM_MOCK_PT_WRITE)
			info->flags |= HMM_MOCK_PAGE_DEVICE_WRITE;
		if (seen->dev_tag == HMM_MOCK_PT_ATOMIC)
			info->flags |= HMM_MOCK_PAGE_DEVICE_EXCLUSIVE;
	}
	if (!page)
		return;

	info->pfn = page_to_pfn(page);
	info->refcount = folio_ref_count(page_folio(page));
	info->mapcount = hmm_mock_mapcount(page);
	info->order = folio_order(page_folio(page));
	info->flags |= hmm_mock_page_flags(page, map_order);
	if (is_device_private_page(page))
		info->mem_type = HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
	else if (is_device_coherent_page(page))
		info->mem_type = HMM_DMIRROR_MEMORY_DEVICE_COHERENT;
	else
		info->mem_type = HMM_MOCK_MEMORY_SYSTEM;
	owner = hmm_mock_page_device(page);
	if (owner) {
		info->device = owner->id;
		if (hmm_mock_devmem_listed_free(page))
			info->flags |= HMM_MOCK_PAGE_ON_FREE_LIST;
	}
}

/**
 * hmm_mock_cmd_page_info() - HMM_MOCK_PAGE_INFO
 * @mirror:	the mirror, used by the process that opened it
 * @cmd:	the command, checked: aligned non-empty range, entry size at
 *		least the first version's, the array in user memory
 *
 * Nothing is faulted, moved or locked beyond the device page table's lock.
 *
 * Return: 0 or -errno (-EINTR on a fatal signal); cmd->cpages counts the
 * entries written.
 */
int hmm_mock_cmd_page_info(struct hmm_mock_mirror *mirror, struct hmm_mock_page_info_cmd *cmd)
{
	size_t len = min_t(size_t, cmd->entry_size, sizeof(struct hmm_mock_page_info));
	u8 __user *uptr = u64_to_user_ptr(cmd->ptr);
	unsigned long addr = cmd->addr, n, i;
	struct hmm_mock_info_batch *b;
	u64 left = cmd->npages;
	int ret = 0;

	b = kmalloc_obj(*b, GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	if (!mmget_not_zero(mirror->mm)) {
		kfree(b);
		return -EFAULT;
	}
	for (; left; left -= n, addr += n << PAGE_SHIFT) {
		n = min_t(u64, left, HMM_MOCK_BATCH);
		ret = hmm_mock_mirror_inspect(mirror, addr, n, hmm_mock_page_info_one, b);
		for (i = 0; !ret && i < n; i++, uptr += cmd->entry_size)
			if (copy_to_user(uptr, &b->info[i], len))
				ret = -EFAULT;
		if (ret)
			break;
		cmd->cpages += n;
		cond_resched();
	}
	mmput(mirror->mm);
	kfree(b);
	return ret;
}

/**
 * hmm_mock_cmd_inject() - HMM_MOCK_INJECT
 * @mdev:	the device
 * @knobs:	the new settings, checked
 */
void hmm_mock_cmd_inject(struct hmm_mock_device *mdev, const struct hmm_mock_inject *knobs)
{
	struct hmm_mock_inject_state *in = &mdev->inject;

	atomic_set(&in->fault_delay_ms, knobs->fault_delay_ms);
	atomic_set(&in->hold_lock_ms, knobs->hold_lock_ms);
	atomic_set(&in->fail_copies, knobs->fail_copies);
	atomic_set(&in->revoke_delay_ms, knobs->revoke_delay_ms);
	atomic_set(&in->settle_delay_ms, knobs->settle_delay_ms);
}

/**
 * hmm_mock_cmd_inject_reset() - disarm every fault injection of a device
 * @mdev: the device, whose last file just closed
 */
void hmm_mock_cmd_inject_reset(struct hmm_mock_device *mdev)
{
	static const struct hmm_mock_inject off;

	hmm_mock_cmd_inject(mdev, &off);
	atomic_set(&mdev->inject.fault_no_thp, 0);
}

/**
 * hmm_mock_cmd_check_free() - HMM_MOCK_CHECK_FREE
 * @mdev:	the device
 * @chk:	filled in
 *
 * Return: 0, or -EINTR on a fatal signal.
 */
int hmm_mock_cmd_check_free(struct hmm_mock_device *mdev, struct hmm_mock_free_check *chk)
{
	return hmm_mock_devmem_check_free(mdev, chk);
}
