# SPDX-License-Identifier: GPL-2.0
# What goes into the test VM: hmm_mock.ko and the suite built against the
# lane, packed with busybox into an initramfs. Sourced after kernel.sh.

# Build hmm_mock.ko for the prepared lane from a copy of the sources, so the
# repository stays clean and lanes never share objects. Sets GUEST_MODULE.
guest_build_module() {
	local w=$1
	mkdir -p "$w/module"
	# Compare by content and give changed files a new mtime, so make
	# rebuilds exactly what changed, whatever the checkout's timestamps.
	rsync -rlc --delete --exclude '*.o' --exclude '*.ko' --exclude '.*.cmd' \
		--exclude '*.mod*' --exclude 'modules.order' --exclude 'Module.symvers' --exclude conftest.h \
		"${MODULE_SOURCES[@]/#/$HMM_MOCK_ROOT/}" "$w/module/"
	say "building hmm_mock.ko for $LANE_KREL"
	make -C "$LANE_BUILD" M="$w/module" -j"$HMM_MOCK_JOBS" modules >"$w/module.log" 2>&1 ||
		{ cat "$w/module.log" >&2; die "building hmm_mock.ko failed"; }
	GUEST_MODULE=$w/module/hmm_mock.ko
}

# Build the suite with the lane's kselftest harness. Sets GUEST_TESTS to
# the programs selftests/Makefile lists (nothing stale from older builds).
guest_build_tests() {
	local w=$1 t
	say "building the test suite with the $LANE kselftest harness"
	make -C "$HMM_MOCK_ROOT/selftests" KSRC="$LANE_SRC" OUT="$w/selftests" \
		>"$w/selftests.log" 2>&1 ||
		{ cat "$w/selftests.log" >&2; die "building the test suite failed"; }
	GUEST_TESTS=()
	for t in $(make -s -C "$HMM_MOCK_ROOT/selftests" KSRC=. \
		   --eval 'hmm-mock-list-tests: ; @echo $(TESTS)' hmm-mock-list-tests); do
		GUEST_TESTS+=("$w/selftests/$t")
	done
	[ ${#GUEST_TESTS[@]} -gt 0 ] || die "selftests/Makefile lists no tests"
}

# guest_pack DIR JOB_ENV CMD...: write DIR/initramfs.gz holding busybox, the
# lane's modules, hmm_mock.ko, the suite, every --add path (in
# GUEST_ADD[]) and a job that runs CMD, by default the whole suite.
guest_pack() {
	local run=$1 env=$2; shift 2
	local root=$run/root p
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,lib/modules,hmm/bin,hmm/tests,hmm/add}
	cp /bin/busybox "$root/bin/busybox"
	cp "$HMM_MOCK_ROOT/vm/guest/init" "$root/init"
	cp "$HMM_MOCK_ROOT/vm/guest/hmm-run-tests" "$HMM_MOCK_ROOT/selftests/hmm_mock.sh" \
		"$HMM_MOCK_ROOT/selftests/hmm_mock_kmemleak.sh" "$root/hmm/bin/"
	cp -a "$LANE_MODDIR" "$root/lib/modules/$LANE_KREL"
	cp "$GUEST_MODULE" "$root/hmm/"
	cp -a "${GUEST_TESTS[@]}" "$root/hmm/tests/"
	for p in "${GUEST_ADD[@]}"; do
		cp -a "$p" "$root/hmm/add/" || die "--add $p: cannot copy"
	done
	printf '%s\n' "$env" >"$root/hmm/job.env"
	# vm/coverage only (HMM_MOCK_GCOV_DUMP=1): the guest writes the gcov
	# counters to the job's serial port at the end. Unset: nothing changes.
	if [ "${HMM_MOCK_GCOV_DUMP:-}" = 1 ]; then
		echo 'HMM_GCOV_DUMP=1' >>"$root/hmm/job.env"
	fi
	# What the lane declares about its kernel, for the tests to hold it to:
	# its base lane's .env first, so that the lane's own lines win.
	if [ ${#LANE_ENV_FILES[@]} -gt 0 ]; then
		cat "${LANE_ENV_FILES[@]}" >"$root/hmm/test.env"
	fi
	{
		echo 'export PATH=/hmm/bin:/hmm/add:/bin:/sbin'
		if [ $# -eq 0 ]; then
			echo 'exec hmm-run-tests /hmm/tests/*'
		else
			printf 'exec'
			printf ' %q' "$@"
			echo
		fi
	} >"$root/hmm/job"
	(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$run/initramfs.gz" ||
		die "packing the initramfs failed"
}
