// SPDX-License-Identifier: GPL-2.0
// dev_pagemap_ops.folio_split: large device-private folios (6.19).
#include <linux/memremap.h>

void probe(struct dev_pagemap_ops *ops, void (*fn)(struct folio *, struct folio *))
{
	ops->folio_split = fn;
}
