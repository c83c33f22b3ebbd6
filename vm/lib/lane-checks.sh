# SPDX-License-Identifier: GPL-2.0
# vm/test-all's checks of one lane, sourced by it: they use its results
# (check, record, emit, fold_verdict), its log directory $out and its lane
# lists (madvise_skip_lanes, peer_skip_lanes, kselftest_lanes).

static_build() {	# W=1 + sparse on a private copy, warnings are errors
	local w="$out/static-$LANE"
	mkdir -p "$w"
	cp -a "${MODULE_SOURCES[@]/#/$HMM_MOCK_ROOT/}" "$w/"
	make -C "$LANE_BUILD" M="$w" W=1 C=2 CHECK="sparse -Wsparse-error" \
		KCFLAGS=-Werror modules 2>&1 | tee "$w.make.log"
	[ "${PIPESTATUS[0]}" -eq 0 ] || return 1
	# Any compiler or sparse diagnostic on a source line fails the check.
	! grep -E ':[0-9]+(:[0-9]+)?: (warning|error):' "$w.make.log"
}

checkpatch_lane() {	# relative paths: checkpatch applies uapi rules by path
	(cd "$HMM_MOCK_ROOT" && "$LANE_SRC/scripts/checkpatch.pl" --strict --no-tree --terse \
		--show-types -f src/*.[ch] include/uapi/*.h)
}

dkms_build() {	# sets DKMS_KO
	local d="$out/dkms-$LANE" ver
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$HMM_MOCK_ROOT/dkms.conf")
	mkdir -p "$d/src/hmm-mock-$ver" "$d/tree"
	cp -a "$HMM_MOCK_ROOT"/{dkms.conf,Makefile} "${MODULE_SOURCES[@]/#/$HMM_MOCK_ROOT/}" \
		"$d/src/hmm-mock-$ver/"
	dkms build -m hmm-mock -v "$ver" -k "$LANE_KREL" --kernelsourcedir "$LANE_BUILD" \
		--dkmstree "$d/tree" --sourcetree "$d/src" --no-depmod || return 1
	DKMS_KO="$d/tree/hmm-mock/$ver/$LANE_KREL/$(uname -m)/module/hmm_mock.ko"
	[ -f "$DKMS_KO" ]
}

# Upstream's test_hmm.ko loads, and the lane's own upstream hmm-tests
# passes against hmm_mock.ko every case it passes against test_hmm.ko.
peer_parity() {
	"$HMM_MOCK_ROOT/vm/peer" --kernel "$LANE" --thp always --log-dir "$out/peer-$LANE"
}

# A run's KTAP and JUnit files parse, with the verdict's totals: the KTAP
# by the kernel's own parser (tools/testing/kunit), the XML by Python's.
formats_check() {
	local dir=$1 totals
	totals=$(tail -n 1 "$dir/verdict.txt")
	"$HMM_MOCK_ROOT/vm/lib/ktap-check" "$LANE_SRC" "$dir/verdict.ktap" "--totals=$totals" &&
	python3 - "$dir/junit.xml" "$totals" <<'EOF'
import sys
import xml.etree.ElementTree as ET
cases = list(ET.parse(sys.argv[1]).getroot().iter('testcase'))
failed = sum(c.find('failure') is not None for c in cases)
skipped = sum(c.find('skipped') is not None for c in cases)
got = f'{len(cases) - failed - skipped} passed, {failed} failed, {skipped} skipped'
print('junit:', got)
sys.exit(got != sys.argv[2])
EOF
}

# run_suite NAME VM_RUN_ARGS...: the suite in the lane's VM, folded into
# the totals under NAME.
run_suite() {
	local name=$1 dir t0=$SECONDS
	shift
	dir="$out/suite-${name//\//-}"
	"$HMM_MOCK_ROOT/vm/run" --kernel "$LANE" "${suite_args[@]}" "$@" --log-dir "$dir" \
		--junit "$dir/junit.xml" >"$dir.log" 2>&1
	lane_times+=("$name: suite run $((SECONDS - t0)) s")
	# vm/run boots once more after a kernel death before user space,
	# keeping the first boot's console.
	if [ -f "$dir/console.first.log" ]; then
		lane_times+=("$name: $(grep -m1 -o 'the kernel died before user space.*' "$dir.log")")
	fi
	if [ -f "$dir/verdict.txt" ]; then
		fold_verdict "$name" "$dir/verdict.txt"
		check "formats:$name" formats_check "$dir"
	else
		record FAIL "$name:suite" "no verdict, see $dir.log"
	fi
}

# prepare LANE: lane_try, logged to $out/kernel-LANE.log; a lane that
# could not be prepared is not tried again.
failed_lanes=
prepare() {
	[[ " $failed_lanes " != *" $1 "* ]] && lane_try "$1" 2>>"$out/kernel-$1.log" && return 0
	failed_lanes+=" $1"
	return 1
}

# lane_checks LANE: every check of one lane (static, checkpatch, dkms, the
# suite, kmemleak, peer, kselftest).
checkpatch_done=
lane_checks() {
	local lane=$1 build_s
	prepare "$lane" || { record FAIL "kernel:$lane" "see $out/kernel-$lane.log"; return; }
	build_s=?
	[ -f "$LANE_BUILD_SECONDS_FILE" ] && build_s=$(cat "$LANE_BUILD_SECONDS_FILE")
	say "lane $lane: $LANE_KREL (cold $([ "$LANE_KIND" = stock ] && echo fetch || echo build) took $build_s s)"
	check "static:$lane" static_build
	# Distribution headers ship no checkpatch; lanes sharing a source
	# tree check once.
	if [ -x "$LANE_SRC/scripts/checkpatch.pl" ] && [[ " $checkpatch_done " != *" $LANE_SRC "* ]]; then
		check "checkpatch:$lane" checkpatch_lane
		checkpatch_done+=" $LANE_SRC"
	fi
	DKMS_KO=
	check "dkms:$lane" dkms_build
	suite_args=()
	[ -n "$DKMS_KO" ] && [ -f "$DKMS_KO" ] && suite_args=(--module "$DKMS_KO")
	kselftest_args=()
	if [ "$LANE_KIND" = stock ]; then
		# A distribution kernel gets the module the way its users do:
		# from the hmm-mock-dkms package, through DKMS.
		# Without them the lane tests what the repository builds, and
		# the FAIL says why.
		DEB_KO=
		if [ -z "$DEB_OK" ]; then
			record FAIL "debian:dkms-install:$lane" "no packages (debian:packages)"
		elif check "debian:dkms-install:$lane" deb_dkms_install "$out/debian" \
			"$LANE_KREL" "$LANE_BUILD"; then
			suite_args=(--module "$DEB_KO")
			kselftest_args=(--tree "$DEB_TESTS_TREE" --module "$DEB_KO")
		fi
	fi
	lane_times+=("$lane: kernel $build_s s cold")
	# The suite must pass with transparent huge pages always on and on
	# request only.
	run_suite "$lane" --thp always
	if [[ " $madvise_skip_lanes " == *" $lane "* ]]; then
		nskip=$((nskip + 1))
		emit "skip    $lane/thp=madvise # left out of CI for its 90-minute limit; vm/run --kernel $lane --thp madvise runs it"
	else
		run_suite "$lane/thp=madvise" --thp madvise
	fi
	if [ "$LANE_KMEMLEAK" = 1 ]; then
		# A failed scan fails the suite's [kmemleak] step; this proves
		# the step ran at all.
		check "kmemleak:$lane" grep -E 'hmm-mock-step: END kmemleak rc=0' "$out/suite-$lane/console.log"
	fi
	if [ "$LANE_KIND" = stock ]; then
		# Said, not silently left out: the distribution kernel has no
		# test_hmm.ko to compare with.
		nskip=$((nskip + 1))
		emit "skip    peer:$lane # stock kernel: Debian builds no test_hmm.ko"
	elif [[ " $peer_skip_lanes " == *" $lane "* ]]; then
		nskip=$((nskip + 1))
		emit "skip    peer:$lane # left out of CI for its 90-minute limit; vm/peer --kernel $lane runs it"
	else
		check "peer:$lane" peer_parity
	fi
	if [[ " $kselftest_lanes " == *" $lane "* ]]; then
		check "kselftest:$lane" "$HMM_MOCK_ROOT/vm/kselftest" --kernel "$lane" \
			"${kselftest_args[@]}" --log-dir "$out/kselftest-$lane"
	fi
}
