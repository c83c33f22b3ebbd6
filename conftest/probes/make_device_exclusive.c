// SPDX-License-Identifier: GPL-2.0
// make_device_exclusive(mm, addr, owner, &folio): one page per call (6.15).
#include <linux/rmap.h>

struct page *(*probe)(struct mm_struct *, unsigned long, void *, struct folio **) =
	make_device_exclusive;
