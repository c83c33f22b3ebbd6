/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layer 4, commands: the HMM_DMIRROR_* ioctls a mirror runs once the
 * character device has checked them (commands.c, exclusive.c), and
 * hmm-mock's introspection and fault injection (inspect.c). Calls
 * migration (migrate.h), the device page table (mirror.h) and device
 * memory (devmem.h). Documented at the definitions.
 */
#ifndef _HMM_MOCK_COMMANDS_H
#define _HMM_MOCK_COMMANDS_H

struct hmm_dmirror_cmd;
struct hmm_mock_device;
struct hmm_mock_mirror;
struct hmm_mock_stats;
struct hmm_mock_page_info_cmd;
struct hmm_mock_inject;
struct hmm_mock_free_check;

int hmm_mock_cmd_read(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_read_unlocked(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_write(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_snapshot(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_migrate_to_dev(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_migrate_to_sys(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_check_exclusive(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_release(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
int hmm_mock_cmd_flags(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);
void hmm_mock_cmd_stats(struct hmm_mock_device *mdev, struct hmm_mock_stats *stats);

/* inspect.c: introspection and fault injection */
int hmm_mock_cmd_page_info(struct hmm_mock_mirror *mirror, struct hmm_mock_page_info_cmd *cmd);
void hmm_mock_cmd_inject(struct hmm_mock_device *mdev, const struct hmm_mock_inject *knobs);
void hmm_mock_cmd_inject_reset(struct hmm_mock_device *mdev);
int hmm_mock_cmd_check_free(struct hmm_mock_device *mdev, struct hmm_mock_free_check *chk);

/* For exclusive.c: report what the device holds. */
int hmm_mock_cmd_copy_out(struct hmm_mock_mirror *mirror, struct hmm_dmirror_cmd *cmd);

#endif /* _HMM_MOCK_COMMANDS_H */
