/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mock device itself. Each layer's interface has its own header:
 * devmem.h (device memory) <- mirror.h (device page table) <- migrate.h
 * (migration) <- commands.h (commands) <- chardev.h (the file); see
 * DOC: Overview in main.c.
 */
#ifndef _HMM_MOCK_H
#define _HMM_MOCK_H

#include <linux/atomic.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "devmem.h"

#define HMM_MOCK_NDEVICES	4

/**
 * struct hmm_mock_inject_state - fault injection armed by HMM_MOCK_INJECT
 * @fault_delay_ms: CPU faults sleep this long before collecting the page
 * @hold_lock_ms: ... and this long after collecting it (to_ram.c)
 * @fail_copies: device-to-system copies left to fail (chunk.c)
 * @fault_no_thp: the next CPU fault on a large folio gets no huge page
 *		(HMM_DMIRROR_FLAG_FAIL_ALLOC, to_ram.c)
 * @revoke_delay_ms: the next invalidation of one exclusive page sleeps
 *		this long first (mirror.c)
 * @settle_delay_ms: the next device access that walks the CPU page table
 *		sleeps at most this long between hmm_range_fault() and its
 *		sequence check, until an invalidation (mirror.c)
 * @settle_sleeps: how many did (HMM_MOCK_STATS), never reset
 * @settle_wait: where such an access sleeps; invalidations wake it
 *
 * Read without locks: each user reads a knob once. All zero when unused,
 * so the paths that read them cost one load.
 */
struct hmm_mock_inject_state {
	atomic_t fault_delay_ms;
	atomic_t hold_lock_ms;
	atomic_t fail_copies;
	atomic_t fault_no_thp;
	atomic_t revoke_delay_ms;
	atomic_t settle_delay_ms;
	atomic_long_t settle_sleeps;
	wait_queue_head_t settle_wait;
};

/**
 * struct hmm_mock_device - one mock GPU: a device node and its memory
 * @misc:	the misc device behind /dev/hmm_dmirror<@id>
 * @id:		device number, 0..HMM_MOCK_NDEVICES - 1
 * @mem_type:	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT
 * @spm_base:	coherent devices: physical start of the reserved range
 * @spm_size:	coherent devices: size of the reserved range in bytes
 * @name:	storage for @misc's node name
 * @mem:	the device memory, owned by devmem.c
 * @inject:	fault injection, reset by the last close (chardev.c)
 * @cpu_faults:	successful CPU-fault migrations to system memory (migrate.c)
 * @evicted:	pages moved out by eviction (evict.c)
 * @open_lock:	protects @open_count and @holds_module
 * @open_count:	open files; the last close evicts the device's memory
 * @holds_module: the last close could not evict everything: the module is
 *		held and @evict_work retries (chardev.c)
 * @evict_work:	that retry
 */
struct hmm_mock_device {
	struct miscdevice misc;
	unsigned int id;
	unsigned int mem_type;
	phys_addr_t spm_base;
	resource_size_t spm_size;
	char name[16];

	struct hmm_mock_devmem mem;
	struct hmm_mock_inject_state inject;

	atomic_long_t cpu_faults;
	atomic_long_t evicted;

	struct mutex open_lock;		/* @open_count, @holds_module */
	unsigned int open_count;
	bool holds_module;
	struct delayed_work evict_work;
};

#endif /* _HMM_MOCK_H */
