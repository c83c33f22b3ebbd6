/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layer 5, the character device: /dev/hmm_dmirror* checks every request
 * and runs it as a command (commands.h).
 */
#ifndef _HMM_MOCK_CHARDEV_H
#define _HMM_MOCK_CHARDEV_H

#include <linux/fs.h>

struct work_struct;

extern const struct file_operations hmm_mock_fops;
void hmm_mock_evict_retry(struct work_struct *work);

#endif /* _HMM_MOCK_CHARDEV_H */
