// SPDX-License-Identifier: GPL-2.0
// folio_zone_device_data() accessor (6.19).
#include <linux/mm.h>
#include <linux/memremap.h>

void *probe(struct folio *folio)
{
	return folio_zone_device_data(folio);
}
