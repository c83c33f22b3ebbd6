// SPDX-License-Identifier: GPL-2.0
// MIGRATE_VMA_SELECT_COMPOUND / MIGRATE_PFN_COMPOUND: THP device migration (6.19).
#include <linux/migrate.h>

unsigned long probe = MIGRATE_VMA_SELECT_COMPOUND | MIGRATE_PFN_COMPOUND;
