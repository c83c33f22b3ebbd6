// SPDX-License-Identifier: GPL-2.0
// alloc_pages_bulk_array() (renamed alloc_pages_bulk() in 6.14).
#include <linux/gfp.h>

unsigned long probe(struct page **pages)
{
	return alloc_pages_bulk_array(GFP_KERNEL, 1, pages);
}
