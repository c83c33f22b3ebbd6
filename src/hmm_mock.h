/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hmm-mock internal interfaces.
 */
#ifndef _HMM_MOCK_H
#define _HMM_MOCK_H

#include <linux/miscdevice.h>
#include <linux/mm_types.h>

#define HMM_MOCK_NDEVICES	4

/**
 * struct hmm_mock_device - one mock GPU: a device node and its memory
 * @misc:	the misc device behind /dev/hmm_dmirror<@id>
 * @id:		device number, 0..HMM_MOCK_NDEVICES - 1
 * @mem_type:	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE or _COHERENT
 * @spm_base:	coherent devices: physical start of the reserved range
 * @spm_size:	coherent devices: size of the reserved range in bytes
 * @name:	storage for @misc's node name
 */
struct hmm_mock_device {
	struct miscdevice misc;
	unsigned int id;
	unsigned int mem_type;
	phys_addr_t spm_base;
	resource_size_t spm_size;
	char name[16];
};

/**
 * struct hmm_mock_mirror - one open file: the device's view of one process
 * @mdev:	the device the file was opened on
 * @mm:		address space of the opening process; the only one the file
 *		acts on (held with mmgrab())
 */
struct hmm_mock_mirror {
	struct hmm_mock_device *mdev;
	struct mm_struct *mm;
};

extern const struct file_operations hmm_mock_fops;

#endif /* _HMM_MOCK_H */
