#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hmm-mock's suite on any machine, as kselftest runs it (run_kselftest.sh
# -c hmm-mock), with the verdict of hmm-mock's own test VMs.
#
#   hmm_mock.sh [PROGRAM...]        load, run, judge, unload
#   hmm_mock.sh --run PROGRAM...    only run, marking the kernel log
#
# The default runs every test program beside this script: it loads
# hmm_mock.ko (beside it, else modprobe; coherent devices on the first
# reserved range of 64 MiB or more, "memmap=SIZE$ADDR", halved), runs the
# programs, unloads the module, checks kmemleak where it is on and the
# kernel's taint, then judges this run's kernel log with
# hmm_mock_judge.awk: a kernel report fails the test it happened in, a
# SKIP for a reason the skip list (HMM_MOCK_EXPECTED_SKIPS, default
# expected-skips beside this script) does not name fails. Prints the
# judged results as KTAP, then the programs' output, and exits with
# kselftest's codes: 0 pass, 1 fail, 4 skip (the module does not load
# here and the kernel reported nothing while it tried). A module someone
# else loaded stays loaded, with its parameters.
#
# --run is what hmm-mock's VM runs (vm/run): each program's output goes to
# stdout unchanged; its plan, RUN, result and totals lines are also copied
# into the kernel log between "hmm-mock-bin: START/END" markers, so a
# kernel report lands before the result line of the test that caused it.
dir=$(cd "$(dirname "$0")" && pwd)
KSFT_PASS=0 KSFT_FAIL=1 KSFT_SKIP=4

mark() { echo "hmm-mock-$*" >/dev/kmsg; }

run_programs() {
	rc=0
	for bin in "$@"; do
		name=${bin##*/}
		mark "bin: START $name"
		{ "$bin"; echo $? >"$tmp/rc.$name"; } 2>&1 |
		while IFS= read -r line; do
			printf '%s\n' "$line"
			case $line in
			"ok "* | "not ok "* | 1..* | "# Totals:"* | "#  RUN "* | \
			"# "*": Test terminated by timeout")
				echo "hmm-mock-tap: $name: $line" >/dev/kmsg ;;
			esac
		done
		brc=$(cat "$tmp/rc.$name" 2>/dev/null || echo 255)
		mark "bin: END $name rc=$brc"
		[ "$brc" -eq 0 ] || rc=1
	done
	return $rc
}

# step NAME CMD...: CMD between markers, so a kernel report is charged to it.
step() {
	step_name=$1
	shift
	mark "step: BEGIN $step_name"
	"$@"
	step_rc=$?
	mark "step: END $step_name rc=$step_rc"
	return $step_rc
}

# "12", "0x1000", "512M", "1G" in bytes.
bytes() {
	case $1 in
	*[Gg]) echo $((${1%?} << 30)) ;;
	*[Mm]) echo $((${1%?} << 20)) ;;
	*[Kk]) echo $((${1%?} << 10)) ;;
	*) echo $(($1)) ;;
	esac
}

# Module parameters for the coherent devices: the first reserved range
# ("memmap=SIZE$ADDR", also in a comma list) of at least 64 MiB on the
# kernel command line, halved; smaller ones blacklist bad RAM.
coherent_args() {
	for arg in $(cat /proc/cmdline); do
		case $arg in memmap=*) ;; *) continue ;; esac
		for range in $(echo "${arg#memmap=}" | tr ',' ' '); do
			case $range in *\$*) ;; *) continue ;; esac
			size=$(bytes "${range%%\$*}") && addr=$(bytes "${range#*\$}") || continue
			[ "$size" -ge $((64 << 20)) ] || continue
			half=$((size / 2 & ~((2 << 20) - 1)))
			printf 'spm_addr_dev0=%#x spm_addr_dev1=%#x spm_size=%#x\n' \
				"$addr" $((addr + half)) "$half"
			return
		done
	done
}

load_module() {
	# shellcheck disable=SC2046
	if [ -r "$dir/hmm_mock.ko" ]; then
		insmod "$dir/hmm_mock.ko" $(coherent_args)
	else
		modprobe hmm_mock $(coherent_args)
	fi
}

# The module file, for the teardown tests that unload and reload it.
module_file() {
	if [ -r "$dir/hmm_mock.ko" ]; then
		echo "$dir/hmm_mock.ko"
	else
		modinfo -n hmm_mock 2>/dev/null
	fi
}

# Taint flags that a report sets: B bad page, D died (Oops, BUG), L soft
# lockup, W warning.
REPORT_TAINTS=$(((1 << 5) | (1 << 7) | (1 << 14) | (1 << 9)))

# A report the kernel prints only once per boot (WARN_ON_ONCE, lockdep,
# KASAN) may have been spent before this run: a taint that appears during
# the run fails it even if its report is not in this run's log.
taint_check() {
	new=$(($(cat /proc/sys/kernel/tainted) & ~taint0 & REPORT_TAINTS))
	[ $new -eq 0 ] && return 0
	echo "# hmm_mock.sh: the kernel became tainted during the run (flags $new)"
	return 1
}

kmemleak_usable() {
	cat /sys/kernel/debug/kmemleak >/dev/null 2>&1
}

# This run's kernel log from its BEGIN marker, as plain lines. A gap in
# the record numbers (the ring buffer overran the reader) becomes the
# kernel's own "messages dropped" line, which the judge fails.
run_log() {
	awk -v begin="hmm-mock-run: BEGIN $id" '
	/^[0-9]+,[0-9]+,[0-9]+,[^;]*;/ {
		seq = $0; sub(/^[0-9]+,/, "", seq); sub(/,.*/, "", seq); seq += 0
		text = $0; sub(/^[^;]*;/, "", text)
		if (text == begin) on = 1
		else if (on && seq != last + 1)
			printf "** %d printk messages dropped **\n", seq - last - 1
		last = seq
		if (on) print text
	}' "$tmp/kmsg"
}

finish() {
	kill $reader 2>/dev/null
	if [ $ours = 1 ] && [ -d /sys/module/hmm_mock ]; then
		rmmod hmm_mock
	fi
	[ -f "$tmp/output" ] && sed 's/^/# /' "$tmp/output"
	echo "# hmm_mock.sh: interrupted"
	exit $KSFT_FAIL
}

tmp=$(mktemp -d) || exit $KSFT_FAIL
trap 'rm -rf "$tmp"' EXIT

if [ "$1" = --run ]; then
	shift
	run_programs "$@"
	exit
fi

if [ $# -eq 0 ]; then
	for p in "$dir"/hmm_mock_*; do
		case $p in *.sh | *.ko | *.awk) continue ;; esac
		[ -f "$p" ] && [ -x "$p" ] && set -- "$@" "$p"
	done
	[ $# -gt 0 ] || { echo "# hmm_mock.sh: no test programs in $dir (installed without +x?)"; exit $KSFT_FAIL; }
fi
[ -w /dev/kmsg ] || { echo "# hmm_mock.sh: must run as root (writes /dev/kmsg)"; exit $KSFT_SKIP; }
skips=${HMM_MOCK_EXPECTED_SKIPS:-$dir/expected-skips}
export HMM_MOCK_KO="${HMM_MOCK_KO:-$(module_file)}"
# The GUP tests and kmemleak live in debugfs.
grep -q " /sys/kernel/debug debugfs " /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
taint0=$(cat /proc/sys/kernel/tainted)
if [ $((taint0 & REPORT_TAINTS)) -ne 0 ]; then
	echo "# hmm_mock.sh: kernel already tainted ($taint0): reports printed once per boot may be missed"
fi

# The kernel log of this run only: read from now on, from a marker of ours.
id="$$.$(date +%s)"
cat /dev/kmsg >"$tmp/kmsg" &
reader=$!
ours=0
rc=0
trap finish INT TERM
mark "run: BEGIN $id"

if [ ! -d /sys/module/hmm_mock ]; then
	if [ -n "$(coherent_args)" ]; then
		# Coherent memory is there: its devices must be too.
		grep -v 'device-coherent node absent' "$skips" >"$tmp/skips"
		skips=$tmp/skips
	fi
	step load load_module || rc=$?
	ours=1
fi
if [ $rc -eq 0 ]; then
	step job run_programs "$@" >"$tmp/output" 2>&1 || rc=$?
fi
if [ $ours = 1 ] && [ -d /sys/module/hmm_mock ]; then
	# kmemleak names the module's functions only while it is loaded.
	grep ' \[hmm_mock\]$' /proc/kallsyms >"$tmp/syms"
	for s in /sys/module/hmm_mock/sections/.*text*; do
		echo "${s##*/} $(cat "$s" 2>/dev/null)"
	done >"$tmp/sections"
	if step unload rmmod hmm_mock && kmemleak_usable; then
		step kmemleak "$dir/hmm_mock_kmemleak.sh" "$tmp/syms" "$tmp/sections" \
			>"$tmp/kmemleak" 2>&1 || sed 's/^/# /' "$tmp/kmemleak"
	fi
fi
step taint taint_check
mark "exit: rc=$rc"
mark "run: END $id"
for _ in $(seq 50); do
	grep -q "hmm-mock-run: END $id" "$tmp/kmsg" && break
	sleep 0.1
done
kill $reader
run_log >"$tmp/log"
if ! grep -q "^hmm-mock-run: END $id" "$tmp/log"; then
	echo "# hmm_mock.sh: cannot read this run's kernel log from /dev/kmsg"
	exit $KSFT_FAIL
fi

# A module that does not load on this kernel (missing symbols or config)
# is a skip, unless the kernel reported a problem while it tried.
if [ $ours = 1 ] && [ ! -f "$tmp/output" ]; then
	if awk -v skips_file="$skips" -f "$dir/hmm_mock_judge.awk" "$tmp/log" |
		grep -q '^FAIL .*# kernel: '; then
		awk -v skips_file="$skips" -v ktap=1 -f "$dir/hmm_mock_judge.awk" "$tmp/log"
		exit $KSFT_FAIL
	fi
	echo "# hmm_mock.sh: hmm_mock does not load on $(uname -r): SKIP"
	exit $KSFT_SKIP
fi

# The verdict first: KTAP parsers take the first "TAP version" line they
# meet, so the programs' own TAP, now diagnostics, must not contain one.
awk -v skips_file="$skips" -v ktap=1 -f "$dir/hmm_mock_judge.awk" "$tmp/log"
verdict=$?
echo "# output of the test programs:"
sed 's/^/# /; s/TAP version/TAP-version/' "$tmp/output"
[ $verdict -eq 0 ] && exit $KSFT_PASS
exit $KSFT_FAIL
