// SPDX-License-Identifier: GPL-2.0
// pin_user_pages(start, nr_pages, gup_flags, pages): no vmas argument (6.5).
#include <linux/mm.h>

long probe(unsigned long start, struct page **pages)
{
	return pin_user_pages(start, 1, FOLL_WRITE, pages);
}
