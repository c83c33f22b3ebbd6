// SPDX-License-Identifier: GPL-2.0
// make_device_exclusive_range(mm, start, end, pages, owner) (up to 6.14).
#include <linux/rmap.h>

int (*probe)(struct mm_struct *, unsigned long, unsigned long, struct page **, void *) =
	make_device_exclusive_range;
