// SPDX-License-Identifier: GPL-2.0
// zone_device_page_init(page, order) (6.19-rc only).
#include <linux/memremap.h>

void probe(struct page *page)
{
	zone_device_page_init(page, 0);
}
