// SPDX-License-Identifier: GPL-2.0
/*
 * Migration between system memory and device memory through
 * migrate_vma_setup/pages/finalize: the MIGRATE_TO_DEV and MIGRATE_TO_SYS
 * commands and the CPU fault on a device-private page.
 *
 * Ranges are processed in batches of HMM_MOCK_BATCH pages with the pfn
 * arrays in one per-command allocation, and each batch takes its device
 * pages off the free list in one go.
 */
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/hugetlb.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <uapi/hmm_mock.h>

#include "compat.h"
#include "hmm_mock.h"

struct hmm_mock_migrate_batch {
	unsigned long src[HMM_MOCK_BATCH];
	unsigned long dst[HMM_MOCK_BATCH];
	struct page *pages[HMM_MOCK_BATCH];
};

void hmm_mock_copy_to_new_page(struct page *dst, struct page *src)
{
	copy_highpage(dst, hmm_mock_devmem_data(src));
}

/*
 * Both commands want the whole range backed by readable mappings that
 * migrate_vma_setup() accepts; checking that first means a bad range fails
 * without moving anything.
 */
static int hmm_mock_check_vmas(struct mm_struct *mm, unsigned long start, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long addr;

	for (addr = start; addr < end; addr = vma->vm_end) {
		vma = vma_lookup(mm, addr);
		if (!vma || !(vma->vm_flags & VM_READ))
			return -EINVAL;
		if (is_vm_hugetlb_page(vma) || (vma->vm_flags & VM_SPECIAL) || vma_is_dax(vma))
			return -EINVAL;
	}
	return 0;
}

static unsigned long hmm_mock_batch_end(struct mm_struct *mm, unsigned long addr,
					unsigned long end, struct vm_area_struct **vma)
{
	*vma = vma_lookup(mm, addr);
	return min3(end, (*vma)->vm_end, addr + (HMM_MOCK_BATCH << PAGE_SHIFT));
}

/* Fault injection: the first allocation after HMM_DMIRROR_FLAGS fails. */
static bool hmm_mock_fail_alloc(struct hmm_mock_mirror *mirror)
{
	if (!(READ_ONCE(mirror->flags) & HMM_DMIRROR_FLAG_FAIL_ALLOC))
		return false;
	WRITE_ONCE(mirror->flags, mirror->flags & ~HMM_DMIRROR_FLAG_FAIL_ALLOC);
	return true;
}

/*
 * Gives each collected system page a device page with the same contents.
 * Pages left without one (device memory exhausted) stay where they are.
 */
static void hmm_mock_fill_device_pages(struct hmm_mock_mirror *mirror, struct migrate_vma *args,
				       struct hmm_mock_migrate_batch *b)
{
	unsigned long i, want = 0, got = 0, used = 0;

	for (i = 0; i < args->npages; i++) {
		args->dst[i] = 0;
		if (args->src[i] & MIGRATE_PFN_MIGRATE)
			want++;
	}
	if (!want)
		return;
	if (!hmm_mock_fail_alloc(mirror))
		got = hmm_mock_devmem_alloc(mirror->mdev, want, b->pages);

	for (i = 0; i < args->npages && used < got; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage, *data;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = b->pages[used++];
		data = hmm_mock_devmem_data(dpage);
		/* No source page: an empty or zero-page entry. */
		if (spage)
			copy_highpage(data, spage);
		else
			clear_highpage(data);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if ((args->src[i] & MIGRATE_PFN_WRITE) ||
		    (!spage && (args->vma->vm_flags & VM_WRITE)))
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

int hmm_mock_cmd_migrate_to_dev(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = mirror->mm;
	struct hmm_mock_migrate_batch *b;
	struct vm_area_struct *vma;
	unsigned long addr, next;
	int ret;

	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	if (!mmget_not_zero(mm)) {
		kfree(b);
		return -EFAULT;
	}

	hmm_mock_mirror_begin_migration(mirror);
	mmap_read_lock(mm);
	ret = hmm_mock_check_vmas(mm, start, end);
	for (addr = start; !ret && addr < end; addr = next) {
		struct migrate_vma args = {
			.src = b->src,
			.dst = b->dst,
			.start = addr,
			.pgmap_owner = mirror->mdev,
			.flags = MIGRATE_VMA_SELECT_SYSTEM,
		};

		next = hmm_mock_batch_end(mm, addr, end, &vma);
		args.vma = vma;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		hmm_mock_fill_device_pages(mirror, &args, b);
		migrate_vma_pages(&args);
		hmm_mock_mirror_forget(mirror, addr, next);
		migrate_vma_finalize(&args);
	}
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_migration(mirror);

	/* Map what is on the device now, and report it back. */
	if (!ret)
		ret = hmm_mock_mirror_map_device_pages(mirror, start, end);
	mmput(mm);
	if (!ret)
		ret = hmm_mock_mirror_copy_out(mirror, cmd);
	kfree(b);
	return ret;
}

/* Gives each collected device page a new system page with its contents. */
static void hmm_mock_fill_system_pages(struct migrate_vma *args, struct hmm_mock_migrate_batch *b)
{
	unsigned long i, want = 0, got, used = 0;

	for (i = 0; i < args->npages; i++) {
		args->dst[i] = 0;
		if (migrate_pfn_to_page(args->src[i]) && (args->src[i] & MIGRATE_PFN_MIGRATE))
			want++;
	}
	if (!want)
		return;
	memset(b->pages, 0, sizeof(b->pages));
	got = hmm_mock_alloc_pages_bulk(GFP_HIGHUSER_MOVABLE, want, b->pages);

	for (i = 0; i < args->npages && used < got; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct page *dpage;

		if (!spage || !(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = b->pages[used++];
		lock_page(dpage);
		hmm_mock_copy_to_new_page(dpage, spage);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (args->src[i] & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
	}
}

static unsigned long hmm_mock_count_migrated(const struct migrate_vma *args)
{
	unsigned long i, n = 0;

	for (i = 0; i < args->npages; i++)
		if ((args->src[i] & MIGRATE_PFN_VALID) && (args->src[i] & MIGRATE_PFN_MIGRATE))
			n++;
	return n;
}

/*
 * Moves the device pages of [start, end) to system memory. The caller
 * holds mmap_lock, has begun a migration on @mirror and checked the VMAs.
 */
static int hmm_mock_migrate_out(struct hmm_mock_mirror *mirror, unsigned long start,
				unsigned long end, struct hmm_mock_migrate_batch *b,
				u64 *cpages)
{
	struct mm_struct *mm = mirror->mm;
	struct vm_area_struct *vma;
	unsigned long addr, next;
	int ret = 0;

	for (addr = start; !ret && addr < end; addr = next) {
		struct migrate_vma args = {
			.src = b->src,
			.dst = b->dst,
			.start = addr,
			.pgmap_owner = mirror->mdev,
			.flags = mirror->mdev->mem_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE ?
				 MIGRATE_VMA_SELECT_DEVICE_PRIVATE :
				 MIGRATE_VMA_SELECT_DEVICE_COHERENT,
		};

		next = hmm_mock_batch_end(mm, addr, end, &vma);
		args.vma = vma;
		args.end = next;
		ret = migrate_vma_setup(&args);
		if (ret)
			break;
		hmm_mock_fill_system_pages(&args, b);
		migrate_vma_pages(&args);
		*cpages += hmm_mock_count_migrated(&args);
		hmm_mock_mirror_forget(mirror, addr, next);
		migrate_vma_finalize(&args);
	}
	return ret;
}

int hmm_mock_cmd_migrate_to_sys(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd)
{
	unsigned long start = cmd->addr, end = start + (cmd->npages << PAGE_SHIFT);
	struct mm_struct *mm = mirror->mm;
	struct hmm_mock_migrate_batch *b;
	int ret;

	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;
	if (!mmget_not_zero(mm)) {
		kfree(b);
		return -EFAULT;
	}

	hmm_mock_mirror_begin_migration(mirror);
	mmap_read_lock(mm);
	ret = hmm_mock_check_vmas(mm, start, end);
	if (!ret)
		ret = hmm_mock_migrate_out(mirror, start, end, b, &cmd->cpages);
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_migration(mirror);
	mmput(mm);
	kfree(b);
	return ret;
}

int hmm_mock_unshare_device_page(struct hmm_mock_mirror *mirror, unsigned long addr)
{
	struct mm_struct *mm = mirror->mm;
	struct hmm_mock_migrate_batch *b;
	struct vm_area_struct *vma;
	u64 moved = 0;
	int ret;

	b = kmalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;

	hmm_mock_mirror_begin_migration(mirror);
	mmap_read_lock(mm);
	vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & VM_WRITE))
		ret = -EPERM;
	else
		ret = hmm_mock_migrate_out(mirror, addr, addr + PAGE_SIZE, b, &moved);
	mmap_read_unlock(mm);
	hmm_mock_mirror_end_migration(mirror);
	kfree(b);
	return ret;
}

vm_fault_t hmm_mock_migrate_to_ram(struct vm_fault *vmf)
{
	struct hmm_mock_device *mdev = hmm_mock_page_device(vmf->page);
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address & PAGE_MASK,
		.end = (vmf->address & PAGE_MASK) + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = mdev,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};
	struct page *dpage;
	vm_fault_t ret = 0;

	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;

	/* Not collected: someone else is moving the page; the fault retries. */
	if (src & MIGRATE_PFN_MIGRATE) {
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, vmf->vma, vmf->address);
		if (dpage) {
			lock_page(dpage);
			hmm_mock_copy_to_new_page(dpage, vmf->page);
			dst = migrate_pfn(page_to_pfn(dpage));
			if (src & MIGRATE_PFN_WRITE)
				dst |= MIGRATE_PFN_WRITE;
		} else {
			ret = VM_FAULT_OOM;
		}
	}
	migrate_vma_pages(&args);
	if (src & MIGRATE_PFN_MIGRATE)
		atomic_long_inc(&mdev->cpu_faults);
	migrate_vma_finalize(&args);
	return ret;
}
