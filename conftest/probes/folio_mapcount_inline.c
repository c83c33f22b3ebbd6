// SPDX-License-Identifier: GPL-2.0
// folio_mapcount() became a static inline taking a const folio (6.10);
// before, it was out of line and not exported to modules.
#pragma GCC diagnostic error "-Wdiscarded-qualifiers"
#include <linux/mm.h>

int probe(const struct folio *folio)
{
	return folio_mapcount(folio);
}
