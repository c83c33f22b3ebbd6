// SPDX-License-Identifier: GPL-2.0
// hmm_range_fault_unlocked_timeout(): fault without mmap_lock held (7.x).
#include <linux/hmm.h>

int (*probe)(struct hmm_range *, unsigned long) = hmm_range_fault_unlocked_timeout;
