/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hmm-mock user ABI.
 *
 * The device nodes /dev/hmm_dmirror0..3 speak the ioctl ABI of the kernel's
 * lib/test_hmm_uapi.h as of Linux 7.3, byte for byte, so upstream's
 * tools/testing/selftests/mm/hmm-tests runs unmodified against hmm-mock.
 * Commands that hmm-mock adds on top use their own ioctl type byte, which
 * upstream's test_hmm (type 'H') can never collide with.
 */
#ifndef _UAPI_HMM_MOCK_H
#define _UAPI_HMM_MOCK_H

#include <linux/const.h>
#include <linux/types.h>
#include <linux/ioctl.h>

/**
 * struct hmm_dmirror_cmd - argument of every HMM_DMIRROR_* command
 * @addr:	start of the range in the caller's address space, page aligned
 * @ptr:	user buffer: source or destination of READ/WRITE/SNAPSHOT
 * @npages:	number of pages in the range (HMM_DMIRROR_FLAGS: the flags)
 * @cpages:	out: number of pages the command completed
 * @faults:	out: number of device faults the command took
 */
struct hmm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

#define HMM_DMIRROR_READ		_IOWR('H', 0x00, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_WRITE		_IOWR('H', 0x01, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_DEV	_IOWR('H', 0x02, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_MIGRATE_TO_SYS	_IOWR('H', 0x03, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_SNAPSHOT		_IOWR('H', 0x04, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_EXCLUSIVE		_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_CHECK_EXCLUSIVE	_IOWR('H', 0x06, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_RELEASE		_IOWR('H', 0x07, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_FLAGS		_IOWR('H', 0x08, struct hmm_dmirror_cmd)
#define HMM_DMIRROR_READ_UNLOCKED	_IOWR('H', 0x09, struct hmm_dmirror_cmd)

/* HMM_DMIRROR_FLAGS bits, passed in @npages. */
#define HMM_DMIRROR_FLAG_FAIL_ALLOC	_BITULL(0)

/*
 * HMM_DMIRROR_SNAPSHOT writes one byte per page into @ptr:
 * HMM_DMIRROR_PROT_ERROR, or HMM_DMIRROR_PROT_NONE/READ/WRITE ORed with
 * the mapping size bits and at most one of the zero-page or device values.
 */
enum {
	HMM_DMIRROR_PROT_ERROR			= 0xFF,
	HMM_DMIRROR_PROT_NONE			= 0x00,
	HMM_DMIRROR_PROT_READ			= 0x01,
	HMM_DMIRROR_PROT_WRITE			= 0x02,
	HMM_DMIRROR_PROT_PMD			= 0x04,
	HMM_DMIRROR_PROT_PUD			= 0x08,
	HMM_DMIRROR_PROT_ZERO			= 0x10,
	HMM_DMIRROR_PROT_DEV_PRIVATE_LOCAL	= 0x20,
	HMM_DMIRROR_PROT_DEV_PRIVATE_REMOTE	= 0x30,
	HMM_DMIRROR_PROT_DEV_COHERENT_LOCAL	= 0x40,
	HMM_DMIRROR_PROT_DEV_COHERENT_REMOTE	= 0x50,
};

/* Kind of device memory behind a device node. */
enum {
	HMM_DMIRROR_MEMORY_DEVICE_PRIVATE	= 1,
	HMM_DMIRROR_MEMORY_DEVICE_COHERENT	= 2,
};

/* Type byte of hmm-mock's own commands (none defined yet). */
#define HMM_MOCK_IOC_TYPE	0xE7

#endif /* _UAPI_HMM_MOCK_H */
