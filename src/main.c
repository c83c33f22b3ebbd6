// SPDX-License-Identifier: GPL-2.0
/*
 * hmm-mock: a mock GPU for exercising ZONE_DEVICE and HMM.
 *
 * Devices 0 and 1 own device-private memory, devices 2 and 3 device-coherent
 * memory carved out of physical ranges the administrator reserved (for
 * example with memmap=) and passed in as spm_addr_dev0/1. A device whose
 * memory cannot exist on this kernel or machine is left out, with a log line
 * saying why, so user space can tell "absent" from "broken".
 */

/**
 * DOC: Overview
 *
 * Five layers, each calling only the ones below it:
 *
 * 1. Device memory (devmem.c and devmem_walk.c on chunk.c, devmem.h):
 *    chunks of ZONE_DEVICE memory, the free lists, the life cycle of a
 *    device page, page contents and memory counters.
 * 2. Device page table (mirror.c and mirror_copy.c, mirror.h): per open
 *    file, what the device may access in its process, kept coherent by an
 *    mmu interval notifier, and the device's copies through it.
 * 3. Migration (migrate.c, to_ram.c, evict.c, migrate.h): ranges to the
 *    device and back, the CPU fault, eviction of a whole device; one helper
 *    gives device pages new system pages for all three.
 * 4. Commands (commands.c, exclusive.c, commands.h): the HMM_DMIRROR_*
 *    ioctls.
 * 5. Character device (chardev.c): open, close, mmap, and the one place
 *    where requests are checked.
 *
 * The kernel calls back up only through the pagemap callbacks
 * (dev_pagemap_ops in devmem.c: page or folio free and split in layer 1,
 * migrate_to_ram in layer 3), as in nouveau_dmem.c. This file creates the
 * devices and removes them.
 */

/**
 * DOC: Locking
 *
 * Locks, outermost first:
 *
 * - mdev->open_lock (mutex): the count of open files and whether a failed
 *   last-close eviction holds the module (chardev.c); never held across
 *   an eviction, since open() runs under the misc core's global lock.
 * - mirror->fault_lock (rw_semaphore): read by a file's device faults from
 *   hmm_range_fault() to the install, written by its EXCLUSIVE, whose own
 *   invalidations leave the notifier sequence alone. Taken before
 *   mmap_lock.
 * - mdev->mem.chunks_lock (mutex): adding and removing chunks. Never
 *   inside mmap_lock: memremap_pages() under it takes the memory hotplug
 *   locks, and memory offlining holds those while it waits for KSM's
 *   mutex, which ksmd holds around mmap_lock (lockdep found the cycle on
 *   7.3-debug). A migration that runs short of device memory drops
 *   mmap_lock to grow the device. memremap_pages() allocates under it,
 *   so reclaim may run inside it.
 * - mm->mmap_lock (read): held by range migrations, EXCLUSIVE and
 *   hmm_range_fault(); the kernel holds it around invalidations and CPU
 *   faults (migrate_to_ram).
 * - hmm_mock_longterm_pin_lock (rw_semaphore, one for all devices, in
 *   evict.c): read across EXCLUSIVE's long-term pin (before 6.15), inside
 *   mmap_lock; written by each eviction window, around its page locks, so
 *   eviction never takes a page the pin's migration has just moved out.
 * - mirror->lock (mutex): the device page table. Taken by the
 *   invalidation callback, which reclaim can call: nothing may allocate
 *   with reclaim (GFP_KERNEL) while holding it, hence GFP_ATOMIC for the
 *   xarray. Taken inside mmap_lock and inside a page lock (EXCLUSIVE).
 * - mdev->mem.free_lock (spinlock): the free lists and their counters;
 *   innermost, taken from the pagemap's free callback in any context the
 *   last put of a device page happens in.
 *
 * Page locks are taken by the kernel's migration code (and held by the
 * driver between migrate_*_setup() and migrate_*_finalize()) outside
 * mirror->lock. mirror.c and devmem.c teach lockdep the orders that
 * reclaim creates when a mirror or device is set up, so the debug lane
 * checks them on every run, not only when reclaim happens to run.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <uapi/hmm_mock.h>

#include "chardev.h"
#include "compat.h"
#include "devmem.h"
#include "hmm_mock.h"
#include "migrate.h"

static unsigned long spm_addr_dev0;
module_param(spm_addr_dev0, ulong, 0444);
MODULE_PARM_DESC(spm_addr_dev0,
		 "Physical start of reserved memory for coherent device 2 (0: no device 2)");

static unsigned long spm_addr_dev1;
module_param(spm_addr_dev1, ulong, 0444);
MODULE_PARM_DESC(spm_addr_dev1,
		 "Physical start of reserved memory for coherent device 3 (0: no device 3)");

static unsigned long spm_size = SZ_512M;
module_param(spm_size, ulong, 0444);
MODULE_PARM_DESC(spm_size, "Size in bytes of each coherent device's reserved range");

static struct hmm_mock_device *hmm_mock_devices[HMM_MOCK_NDEVICES];

/* Returns false, after saying why, when device @id cannot exist here. */
static bool hmm_mock_device_possible(unsigned int id, phys_addr_t *base)
{
	if (id < 2) {
		if (IS_ENABLED(CONFIG_DEVICE_PRIVATE))
			return true;
		pr_info("hmm_dmirror%u absent: kernel built without CONFIG_DEVICE_PRIVATE\n", id);
		return false;
	}

	*base = id == 2 ? spm_addr_dev0 : spm_addr_dev1;
	if (!*base) {
		pr_info("hmm_dmirror%u absent: no coherent memory range (spm_addr_dev%u=0)\n",
			id, id - 2);
		return false;
	}
	/* Chunks are hot-plugged as ZONE_DEVICE memory: subsection granularity. */
	if (!IS_ALIGNED(*base, SZ_2M) || spm_size < HMM_MOCK_CHUNK_SIZE) {
		pr_err("hmm_dmirror%u absent: spm_addr_dev%u=%#llx must be 2 MiB aligned and spm_size=%#lx at least %lu MiB\n",
		       id, id - 2, (u64)*base, spm_size, HMM_MOCK_CHUNK_SIZE >> 20);
		return false;
	}
	return true;
}

static int hmm_mock_device_create(unsigned int id)
{
	struct hmm_mock_device *mdev;
	phys_addr_t base = 0;
	int ret;

	if (!hmm_mock_device_possible(id, &base))
		return 0;

	mdev = kzalloc_obj(*mdev, GFP_KERNEL);
	if (!mdev)
		return -ENOMEM;

	mdev->id = id;
	if (id < 2) {
		mdev->mem_type = HMM_DMIRROR_MEMORY_DEVICE_PRIVATE;
	} else {
		mdev->mem_type = HMM_DMIRROR_MEMORY_DEVICE_COHERENT;
		mdev->spm_base = base;
		mdev->spm_size = spm_size;
	}
	snprintf(mdev->name, sizeof(mdev->name), "hmm_dmirror%u", id);
	hmm_mock_devmem_init(mdev);
	mutex_init(&mdev->open_lock);
	init_waitqueue_head(&mdev->inject.settle_wait);
	INIT_DELAYED_WORK(&mdev->evict_work, hmm_mock_evict_retry);
	mdev->misc.minor = MISC_DYNAMIC_MINOR;
	mdev->misc.name = mdev->name;
	mdev->misc.fops = &hmm_mock_fops;
	mdev->misc.mode = 0600;

	ret = misc_register(&mdev->misc);
	if (ret) {
		kfree(mdev);
		return ret;
	}
	hmm_mock_devices[id] = mdev;
	pr_info("%s: %s memory\n", mdev->name,
		mdev->mem_type == HMM_DMIRROR_MEMORY_DEVICE_PRIVATE ? "device-private" :
		"device-coherent");
	/*
	 * A GPU has memory from probe on: add the first chunk now, so that
	 * the first migration does not pay for memremap_pages(). More is
	 * added on demand; without this one, the first migration adds it.
	 */
	hmm_mock_devmem_grow(mdev, false);
	return 0;
}

static void hmm_mock_device_destroy(unsigned int id)
{
	struct hmm_mock_device *mdev = hmm_mock_devices[id];

	if (!mdev)
		return;
	misc_deregister(&mdev->misc);
	/* Its last run may have dropped the module reference: let it end. */
	cancel_delayed_work_sync(&mdev->evict_work);
	/*
	 * No file is open (each holds the module), but mappings may remain:
	 * their pages move to system memory before the memory goes away.
	 */
	if (hmm_mock_evict_device(mdev))
		pr_err("%s: device memory still in use after eviction\n", mdev->name);
	hmm_mock_devmem_fini(mdev);
	kfree(mdev);
	hmm_mock_devices[id] = NULL;
}

static int __init hmm_mock_init(void)
{
	unsigned int id;
	int ret;

	for (id = 0; id < HMM_MOCK_NDEVICES; id++) {
		ret = hmm_mock_device_create(id);
		if (ret)
			goto err;
	}
	return 0;

err:
	pr_err("creating hmm_dmirror%u failed: %d\n", id, ret);
	while (id--)
		hmm_mock_device_destroy(id);
	return ret;
}

static void __exit hmm_mock_exit(void)
{
	unsigned int id;

	for (id = 0; id < HMM_MOCK_NDEVICES; id++)
		hmm_mock_device_destroy(id);
}

module_init(hmm_mock_init);
module_exit(hmm_mock_exit);
MODULE_DESCRIPTION("Mock GPU memory manager for testing ZONE_DEVICE and HMM");
MODULE_LICENSE("GPL");
