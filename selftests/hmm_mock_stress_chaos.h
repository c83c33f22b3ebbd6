/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The chaos thread of hmm_mock_stress and the processes it brings in:
 * RELEASE and FAIL_ALLOC under the workers, second files of the process,
 * fork children and a receiver of passed files (processes that did not
 * open the file, so HMM_MOCK_STATS only), the device's last close, and
 * whole THPs collapsed and migrated.
 * Include after hmm_mock_stress.h.
 */
#ifndef _HMM_MOCK_STRESS_CHAOS_H
#define _HMM_MOCK_STRESS_CHAOS_H

#include <sys/socket.h>
#include <sys/syscall.h>

#define CHILD_GEN	0xC0DE0000u	/* what a fork child writes over its copy */

static int open_node(struct arena *a)
{
	char node[32];

	hmm_mock_node(node, sizeof(node), a->id);
	return open(node, O_RDWR | O_CLOEXEC);
}

/*
 * What a process that did not open @fd may do with it: every HMM_DMIRROR_*
 * command is -EPERM (READ_UNLOCKED -ENOTTY where the kernel lacks it) and
 * leaves its argument alone; HMM_MOCK_STATS works. Returns 0, or the number
 * of the check that failed.
 */
static int foreign_checks(struct arena *a, int fd)
{
	struct hmm_mock_stats st;
	unsigned int i;

	for (i = 0; i < CHAOS_NR_DMIRROR_OPS; i++) {
		struct hmm_dmirror_cmd cmd = { (uintptr_t)a->base, (uintptr_t)a->base, 1, 7, 7 };
		struct hmm_dmirror_cmd before = cmd;
		int want = chaos_dmirror_ops[i] == HMM_DMIRROR_READ_UNLOCKED && !a->unlocked ?
			   -ENOTTY : -EPERM;

		if (hmm_mock_ioctl(fd, chaos_dmirror_ops[i], &cmd) != want ||
		    memcmp(&cmd, &before, sizeof(cmd)))
			return 10 + i;
	}
	return ioctl(fd, HMM_MOCK_STATS, &st) ? 30 : 0;
}

/*
 * A fork child, with the parent's file: foreign_checks(), its copy of the
 * arena is intact, and a file it opens itself works on its copy. Exit
 * status: 0, or the number of the check that failed.
 */
static int fork_child(struct arena *a, uint64_t *buf)
{
	int fd, ret = foreign_checks(a, a->fd), tries;
	unsigned long i;

	/*
	 * Pages the parent was writing at the fork may mix two generations;
	 * nobody writes those past a->worked (CHAOS_THP's last THP).
	 */
	for (i = 0; i < a->npages && !ret; i++)
		if (check_page(a, page_at(a, i), i, i < a->worked ? 1 : a->ack[i],
			       i < a->worked ? UINT32_MAX : a->ack[i]) >= 0)
			ret = 31;
	for (i = 0; i < a->npages; i++)
		fill_page(a, page_at(a, i), i, CHILD_GEN);
	fd = open_node(a);
	if (ret || fd < 0)
		return ret ? ret : 32;
	for (i = 0; i < a->npages; i += MAX_RUN) {
		ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, page_at(a, i), buf, MAX_RUN,
				   NULL);
		if (ret && ret != -ENOENT && ret != -EBUSY)
			return 33;
		tries = 0;
		do {
			ret = hmm_mock_cmd(fd, HMM_DMIRROR_READ, page_at(a, i), buf, MAX_RUN, NULL);
		} while (ret == -EBUSY && ++tries < 10);
		if (ret)
			return 34;
	}
	for (i = 0; i < a->npages; i++)
		if (check_page(a, page_at(a, i), i, CHILD_GEN, CHILD_GEN) >= 0)
			return 35;
	close(fd);
	return 0;
}

/*
 * The other end of CHAOS_PASS, another process: it gets files of ours by
 * SCM_RIGHTS or, on kernels without networking, takes them with
 * pidfd_getfd(), says so, and once told that we closed our copy (its close
 * is then the file's last) answers with foreign_checks() of the file.
 */
static int receiver(struct arena *a, int in, int out)
{
	int fd, pidfd = a->scm ? -1 : syscall(SYS_pidfd_open, getppid(), 0);
	char c, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	for (;;) {
		msg.msg_control = ctl;
		msg.msg_controllen = sizeof(ctl);
		if (a->scm ? recvmsg(in, &msg, 0) != 1 : read(in, &fd, sizeof(fd)) != sizeof(fd))
			return 0;	/* the sender is done */
		cm = a->scm ? CMSG_FIRSTHDR(&msg) : NULL;
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		else
			fd = a->scm ? -1 : syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (write(out, "g", 1) != 1 || read(in, &c, 1) != 1)
			return 1;
		c = fd < 0 ? 40 : foreign_checks(a, fd);
		close(fd);
		if (write(out, &c, 1) != 1)
			return 1;
	}
}

/* Hands @fd to the receiver, closes it here if @last; returns the verdict (0: fine). */
static int pass_fd(struct arena *a, int fd, bool last)
{
	char c = 1, ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &c, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
			      .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	if ((a->scm ? sendmsg(a->rx_in, &msg, 0) != 1 :
		      write(a->rx_in, &fd, sizeof(fd)) != sizeof(fd)) ||
	    read(a->rx_out, &c, 1) != 1)
		return -1;
	if (last)
		close(fd);
	if (write(a->rx_in, "c", 1) != 1)
		return -1;
	return read(a->rx_out, &c, 1) == 1 ? c : -1;
}

/* MIGRATE_TO_DEV of @n pages from @pg through @fd, checked; counted as @op. */
static void to_dev(struct worker *w, int op, int fd, unsigned long pg, unsigned long n)
{
	int ret;

	note_lo(w, pg, n);
	ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_DEV, page_at(w->a, pg), w->buf, n, NULL);
	if (racy_ok(w->a, op, ret, true, pg, n))
		check_copy(w, op, w->buf, pg, n);
}

/*
 * A second file of this process, used on the arena; closed here, or passed
 * (or the workers' own file) to the receiver, which closes it last.
 */
static void churn(struct worker *w, bool pass)
{
	struct arena *a = w->a;
	bool last = chaos_below(&w->rng, 3);
	int fd = open_node(a), ret;

	if (fd < 0) {
		failf(a, "open %d: %s", a->id, strerror(errno));
		return;
	}
	to_dev(w, OP_TO_DEV, fd, chaos_below(&w->rng, a->npages - MAX_RUN + 1), MAX_RUN);
	count(&a->t.ops[pass ? OP_PASS : OP_CHURN]);
	ret = pass ? pass_fd(a, last ? fd : a->fd, last) : 0;
	if (ret)
		failf(a, "the receiver of a file: check %d failed", ret);
	if (!pass || !last)
		close(fd);
}

/* Reaps fork child @pid (-1: the fork failed), which runs fork_child(). */
static void reap_child(struct arena *a, pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		failf(a, "fork: %s", strerror(errno));
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		failf(a, "fork child: status %#x (check %d failed)", status, WEXITSTATUS(status));
}

static void fork_one(struct worker *w)
{
	pid_t pid;

	count(&w->a->t.ops[OP_FORK]);
	pid = fork();
	if (!pid)
		_exit(fork_child(w->a, w->buf));
	reap_child(w->a, pid);
}

/*
 * The last close racing CPU access: a file of its own moves the arena to
 * the device, perhaps RELEASEs it, and its close, the device's last,
 * evicts what is left while the workers touch the pages.
 */
static void last_close(struct worker *w)
{
	struct arena *a = w->a;
	unsigned long pg;
	int fd = open_node(a);

	if (fd < 0) {
		failf(a, "open %d: %s", a->id, strerror(errno));
		return;
	}
	count(&a->t.ops[OP_CLOSE]);
	for (pg = 0; pg < a->npages && !stopped(a); pg += MAX_RUN)
		to_dev(w, OP_TO_DEV, fd, pg, MAX_RUN);
	if (!chaos_below(&w->rng, 3))
		racy_ok(a, OP_RELEASE, hmm_mock_cmd(fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL),
			false, 0, 0);
	close(fd);
}

/* MADV_COLLAPSE of the THP's worth of the arena at page @pg. */
static void collapse(struct worker *w, unsigned long pg)
{
	struct arena *a = w->a;

	if (a->skip & 1UL << OP_COLLAPSE)
		return;
	count(&a->t.ops[OP_COLLAPSE]);
	/*
	 * Fails while the workers hold pages, with no huge page free, or on
	 * pages on the device that the kernel does not pull back (coherent
	 * ones; HMM_MOCK_EXPECT_COLLAPSE=keeps).
	 */
	if (!madvise(page_at(a, pg), a->run_max * a->page, MADV_COLLAPSE))
		count(&a->t.collapsed);
}

/* OP_THP_TO_DEV or OP_THP_TO_SYS of the THP's worth at page @pg through @fd. */
static void thp_move(struct worker *w, int op, int fd, unsigned long pg)
{
	struct arena *a = w->a;
	unsigned long n = a->run_max;
	struct hmm_dmirror_cmd cmd;
	int ret;

	if (a->skip & 1UL << op)
		return;
	count(&a->t.ops[op]);
	if (op == OP_THP_TO_DEV) {
		to_dev(w, op, fd, pg, n);
		return;
	}
	ret = hmm_mock_cmd(fd, HMM_DMIRROR_MIGRATE_TO_SYS, page_at(a, pg), NULL, n, &cmd);
	if (racy_ok(a, op, ret, false, pg, n) && cmd.cpages > n)
		failf(a, "%s of %lu pages at page %lu did %llu", op_names[op], n, pg,
		      (unsigned long long)cmd.cpages);
}

/* The first page of a THP's worth of the arena, at random, the last one too. */
static unsigned long thp_at_random(struct worker *w)
{
	return w->a->run_max * chaos_below(&w->rng, w->a->npages / w->a->run_max);
}

/*
 * A THP's worth of the arena collapsed into a THP (where the kernel can,
 * see collapse()) and moved to the device whole, or moved back whole.
 * The workers' runs split it again, and FAIL_ALLOC on the file leaves it
 * no large folio, so the driver's page-by-page passes run under them too.
 */
static void thp_op(struct worker *w)
{
	unsigned long pg = thp_at_random(w);

	if (chaos_below(&w->rng, 10) < 7) {
		collapse(w, pg);
		thp_move(w, OP_THP_TO_DEV, w->a->fd, pg);
	} else {
		thp_move(w, OP_THP_TO_SYS, w->a->fd, pg);
	}
}

/*
 * A fork child that maps the arena's last THP too (the workers leave it
 * alone), a system THP or a large device folio, while a file of our own
 * with FAIL_ALLOC moves it whole to the other side: it finds no large
 * folio, or no THP, and goes page by page. Then the child checks its copy
 * (fork_child()).
 */
static void fork_during_thp_ops(struct worker *w)
{
	struct arena *a = w->a;
	unsigned long pg = a->worked;
	bool back = chaos_below(&w->rng, 2);
	int go[2], fd, ret;
	pid_t pid;
	char c;

	thp_move(w, OP_THP_TO_SYS, a->fd, pg);
	collapse(w, pg);
	if (back)
		thp_move(w, OP_THP_TO_DEV, a->fd, pg);
	if (pipe(go)) {
		failf(a, "pipe: %s", strerror(errno));
		return;
	}
	count(&a->t.ops[OP_FORK]);
	pid = fork();
	if (!pid) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 1 ? fork_child(a, w->buf) : 36);
	}
	close(go[0]);
	if (pid < 0) {
		failf(a, "fork: %s", strerror(errno));
		close(go[1]);
		return;
	}
	/*
	 * A file of its own, whose commands the workers do not share. (A CPU
	 * fault may still use the FAIL_ALLOC up; the move then finds a THP.)
	 */
	fd = open_node(a);
	ret = fd < 0 ? -errno : hmm_mock_cmd(fd, HMM_DMIRROR_FLAGS, NULL, NULL,
					     HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL);
	if (ret)
		failf(a, "a second file with FAIL_ALLOC: %s", strerror(-ret));
	else
		thp_move(w, back ? OP_THP_TO_SYS : OP_THP_TO_DEV, fd, pg);
	if (fd >= 0)
		close(fd);
	if (hmm_mock_go(go[1]))
		failf(a, "fork child: no go: %s", strerror(errno));
	reap_child(a, pid);
}

static void *chaos_main(void *arg)
{
	struct worker *w = arg;
	struct arena *a = w->a;
	int ret;

	while (!stopped(a)) {
		unsigned int r = chaos_below(&w->rng, 100);

		usleep(1000 + chaos_below(&w->rng, 9000));
		if (a->skip & 1UL << (r < 15 ? OP_RELEASE : r < 25 ? OP_FLAGS : OP_CHURN))
			continue;	/* OP_CHURN stands for what the chaos mode adds */
		if (a->chaos == CHAOS_CLOSE) {
			last_close(w);
		} else if (r < 15) {
			count(&a->t.ops[OP_RELEASE]);
			ret = hmm_mock_cmd(a->fd, HMM_DMIRROR_RELEASE, NULL, NULL, 0, NULL);
			racy_ok(a, OP_RELEASE, ret, false, 0, 0);
		} else if (r < 25) {
			/* The next device allocation of the file fails: -ENOENT. */
			count(&a->t.ops[OP_FLAGS]);
			ret = hmm_mock_cmd(a->fd, HMM_DMIRROR_FLAGS, NULL, NULL,
					   HMM_DMIRROR_FLAG_FAIL_ALLOC, NULL);
			if (ret)
				failf(a, "flags: %s", strerror(-ret));
		} else if (a->chaos == CHAOS_CHURN || a->chaos == CHAOS_PASS) {
			churn(w, a->chaos == CHAOS_PASS);
		} else if (a->chaos == CHAOS_FORK && r < 60) {
			fork_one(w);
		} else if (a->chaos == CHAOS_THP && r < 80) {
			thp_op(w);
		} else if (a->chaos == CHAOS_THP) {
			fork_during_thp_ops(w);
		}
	}
	return NULL;
}

#endif /* _HMM_MOCK_STRESS_CHAOS_H */
