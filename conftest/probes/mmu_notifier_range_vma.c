// SPDX-License-Identifier: GPL-2.0
// struct mmu_notifier_range still has .vma (6.1; removed in 6.3).
#include <linux/mmu_notifier.h>

struct vm_area_struct *probe(struct mmu_notifier_range *range)
{
	return range->vma;
}
