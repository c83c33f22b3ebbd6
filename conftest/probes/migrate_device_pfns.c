// SPDX-License-Identifier: GPL-2.0
// migrate_device_pfns(): evict a list of device pfns (6.15).
#include <linux/migrate.h>

int (*probe)(unsigned long *, unsigned long) = migrate_device_pfns;
