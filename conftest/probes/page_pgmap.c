// SPDX-License-Identifier: GPL-2.0
// page_pgmap() replaced page->pgmap (6.15).
#include <linux/mm.h>
#include <linux/memremap.h>

struct dev_pagemap *probe(struct page *page)
{
	return page_pgmap(page);
}
