#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# hmm_mock_kmemleak.sh SYMS SECTIONS: after hmm_mock.ko is unloaded, make
# kmemleak scan and fail if a suspected leak was allocated by hmm_mock.
#
# SYMS is hmm_mock's lines of /proc/kallsyms and SECTIONS its
# /sys/module/hmm_mock/sections/* ("name address"), both saved before the
# unload: once the module is gone, kmemleak prints its return addresses as
# bare hex (%pS finds no symbol), so a backtrace "mentions hmm_mock" either
# by name (a leak already reported while it was loaded) or by an address in
# its former text. Other suspected leaks (boot-time ones, the kernel's own)
# are printed for information only. Exit 0: none of ours; 1: ours, or
# kmemleak could not scan (a check that cannot run must not pass).
syms=$1 sects=$2
kl=/sys/kernel/debug/kmemleak
[ -e $kl ] || { echo "kmemleak-check: no $kl (kernel without DEBUG_KMEMLEAK?)"; exit 1; }
# A scan reports an object only if its checksum did not change since the
# previous scan, so one scan is never enough (Documentation/dev-tools/kmemleak.rst);
# the pause lets RCU-deferred frees of the unload complete first.
for i in 1 2; do
	sleep 5
	echo scan >$kl || { echo "kmemleak-check: scan $i failed (kmemleak disabled? see the kernel log)"; exit 1; }
done
cat $kl >/tmp/kmemleak.txt || { echo "kmemleak-check: cannot read $kl"; exit 1; }

exec awk -v syms="$syms" -v sects="$sects" '
# x86-64 kernel addresses all start with ffffffff: compare the low 32 bits,
# which awk holds exactly.
function lo32(h,    n, i) {
	sub(/^0x/, "", h)
	if (length(h) != 16 || substr(h, 1, 8) != "ffffffff") return -1
	n = 0
	for (i = 9; i <= 16; i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
	return n
}
function add_range(a, b) { rlo[++nr] = a; rhi[nr] = b }
function ours(a,    i) {
	for (i = 1; i <= nr; i++) if (a >= rlo[i] && a < rhi[i]) return 1
	return 0
}
BEGIN {
	tmin = -1; tmax = -1
	while ((getline l < syms) > 0) {
		split(l, f, " ")
		if (f[2] !~ /^[tT]$/) continue
		a = lo32(f[1]); if (a < 0) continue
		if (tmin < 0 || a < tmin) tmin = a
		if (a > tmax) tmax = a
	}
	# The last function runs past its symbol: allow 64 KiB.
	if (tmin >= 0) add_range(tmin, tmax + 65536)
	# Init and exit text have no symbols left by now; their sections
	# still give the start.
	while ((getline l < sects) > 0) {
		split(l, f, " ")
		if (f[1] !~ /^\.(init|exit)\.text/) continue
		a = lo32(f[2]); if (a >= 0) add_range(a, a + 65536)
	}
	if (!nr) { print "kmemleak-check: no hmm_mock text addresses were saved before the unload"; bad = 1 }
}
/^unreferenced object / { n++; bt = 0 }
{
	rec[n] = rec[n] $0 "\n"
	# Only the backtrace counts: "comm" may be one of our test programs
	# while the kernel leaks on its own.
	if (!bt) { bt = ($1 == "backtrace"); next }
	if (index($0, "hmm_mock")) mine[n] = 1
	else if ($1 ~ /^0x[0-9a-f]+$/ && NF == 1 && ours(lo32($1))) mine[n] = 1
}
END {
	for (i = 1; i <= n; i++) if (mine[i]) m++
	printf "kmemleak-check: %d suspected leak(s) after unloading hmm_mock, %d of them allocated by hmm_mock\n", n, m
	for (i = 1; i <= n; i++)
		printf "%s%s", mine[i] ? "LEAK BY HMM_MOCK:\n" : "(not ours, for information)\n", rec[i]
	exit (m || bad) ? 1 : 0
}' /tmp/kmemleak.txt
