// SPDX-License-Identifier: GPL-2.0
// dev_pagemap_ops.folio_free replaced .page_free (6.19).
#include <linux/memremap.h>

void probe(struct dev_pagemap_ops *ops, void (*fn)(struct folio *))
{
	ops->folio_free = fn;
}
