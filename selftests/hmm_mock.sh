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
# "memmap=SIZE$ADDR" of the kernel command line, halved), runs the
# programs, unloads the module, checks kmemleak where the kernel has it,
# then judges the kernel log of the run with hmm_mock_judge.awk: a kernel
# report fails the test it happened in, a SKIP for a reason the skip list
# (HMM_MOCK_EXPECTED_SKIPS, default expected-skips beside this script)
# does not name fails. Prints the judged results as KTAP and exits with
# kselftest's codes: 0 pass, 1 fail, 4 skip (the module cannot load here).
# A module someone else loaded stays loaded, with its parameters.
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
			"ok "* | "not ok "* | 1..* | "# Totals:"* | "#  RUN "*)
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

# Module parameters for the coherent devices: the first "memmap=SIZE$ADDR"
# of the kernel command line, split in two.
coherent_args() {
	for arg in $(cat /proc/cmdline); do
		case $arg in memmap=*\$*) ;; *) continue ;; esac
		size=${arg#memmap=}
		size=${size%%\$*}
		addr=${arg#*\$}
		case $size in
		*[Gg]) size=$((${size%?} << 30)) ;;
		*[Mm]) size=$((${size%?} << 20)) ;;
		*[Kk]) size=$((${size%?} << 10)) ;;
		esac
		half=$((size / 2))
		printf 'spm_addr_dev0=%#x spm_addr_dev1=%#x spm_size=%#x\n' \
			$((addr)) $((addr + half)) $half
		return
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
fi
[ -w /dev/kmsg ] || { echo "# hmm_mock.sh: must run as root (writes /dev/kmsg)"; exit $KSFT_SKIP; }
skips=${HMM_MOCK_EXPECTED_SKIPS:-$dir/expected-skips}
export HMM_MOCK_KO="${HMM_MOCK_KO:-$(module_file)}"
# The GUP tests and kmemleak live in debugfs.
grep -q " /sys/kernel/debug debugfs " /proc/mounts || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null

# The kernel log of this run only: read from now on, from a marker of ours.
id="$$.$(date +%s)"
cat /dev/kmsg >"$tmp/kmsg" &
reader=$!
mark "run: BEGIN $id"

ours=0
rc=0
if [ ! -d /sys/module/hmm_mock ]; then
	step load load_module || {
		mark "exit: rc=0"
		kill $reader
		echo "# hmm_mock.sh: hmm_mock cannot load on $(uname -r): SKIP"
		exit $KSFT_SKIP
	}
	ours=1
fi
step job run_programs "$@" >"$tmp/output" 2>&1 || rc=$?
sed 's/^/# /' "$tmp/output"
if [ $ours = 1 ]; then
	# kmemleak names the module's functions only while it is loaded.
	grep ' \[hmm_mock\]$' /proc/kallsyms >"$tmp/syms"
	for s in /sys/module/hmm_mock/sections/.*text*; do
		echo "${s##*/} $(cat "$s" 2>/dev/null)"
	done >"$tmp/sections"
	if step unload rmmod hmm_mock && [ -e /sys/kernel/debug/kmemleak ]; then
		step kmemleak "$dir/hmm_mock_kmemleak.sh" "$tmp/syms" "$tmp/sections" \
			>"$tmp/kmemleak" 2>&1 || sed 's/^/# /' "$tmp/kmemleak"
	fi
fi
mark "exit: rc=$rc"
mark "run: END $id"
for _ in $(seq 50); do
	grep -q "hmm-mock-run: END $id" "$tmp/kmsg" && break
	sleep 0.1
done
kill $reader
# /dev/kmsg records are "prio,seq,time,flags;text" plus " KEY=value" lines.
sed -n "s/^[0-9]*,[0-9]*,[0-9]*,[^;]*;//p" "$tmp/kmsg" |
	sed -n "/^hmm-mock-run: BEGIN $id\$/,\$p" >"$tmp/log"
if awk -v skips_file="$skips" -v ktap=1 -f "$dir/hmm_mock_judge.awk" "$tmp/log"; then
	exit $KSFT_PASS
fi
exit $KSFT_FAIL
