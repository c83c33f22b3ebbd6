# SPDX-License-Identifier: GPL-2.0
# hmm-mock's verdict: judges a run from its kernel log, for vm/verdict (the
# test VM's serial console) and hmm_mock.sh (/dev/kmsg of any machine), so
# both give the same verdict.
#
#   awk -f hmm_mock_judge.awk -v skips_file=FILE [-v ktap=1] KERNEL_LOG
#
# The log carries the markers hmm_mock.sh writes ("hmm-mock-<kind>: ..."):
#   step: BEGIN|END <name> [rc=N]   module load/unload, the job, leak check
#   bin: START|END <program> [rc=N] one test program
#   tap: <program>: <line>          its plan, RUN, result and totals lines
#   exit: rc=N                      the job's exit status
# Prints one line per test and step ("ok", "skip" or "FAIL", the name,
# "# why"), then "N passed, N failed, N skipped"; with ktap=1 the same
# results as a KTAP document. Exits 0 only when nothing failed and the job
# exited 0.
#
# A test fails when its harness says so, when a kernel report (WARNING, BUG,
# Oops, KASAN, lockdep, "Bad page", ...) appears in the log before its result
# line, or when it skips for a reason skips_file does not list. A test that
# started and never gave a result (its program or the VM died in it) fails
# by name, with the kernel's report if there was one. A program
# fails when it exits non-zero or reports fewer results than it planned. A
# kernel report outside any test fails the step it happened in (boot,
# module load or unload, the job), and so does a step's non-zero exit
# (e.g. [kmemleak]: a leak allocated by hmm_mock). A job that runs no
# harness program (vm/run -- my-program) is one result, [job]: its exit
# status and whether the kernel reported a problem while it ran.
#
# skips_file: lines "<test-name glob> <text the SKIP reason contains>"
# (no text: any reason); '#' starts a comment.
function glob_to_re(g,    r, i, c) {
	r = "^"
	for (i = 1; i <= length(g); i++) {
		c = substr(g, i, 1)
		if (c == "*") r = r ".*"
		else if (c == "?") r = r "."
		else if (index("\\^$.[]|()+{}", c)) r = r "\\" c
		else r = r c
	}
	return r "$"
}
function expected_skip(name, reason,    i) {
	for (i = 1; i <= nskip; i++)
		if (name ~ skip_re[i] && (skip_why[i] == "" || index(reason, skip_why[i])))
			return 1
	return 0
}
function result(verdict, name, detail,    k) {
	if (verdict == "ok") npass++
	else if (verdict == "skip") nskip_seen++
	else nfail++
	if (ktap) {
		# KTAP: "#" ends a name and starts a directive; held for the plan.
		gsub(/#/, "_", name)
		k = ++nresults
		ktap_line[k] = (verdict == "fail" ? "not ok " : "ok ") k " " name
		if (verdict == "skip") ktap_line[k] = ktap_line[k] " # SKIP " detail
		if (verdict == "fail") ktap_why[k] = "# " name ": " detail
		return
	}
	if (verdict == "ok") printf "ok      %s%s\n", name, detail == "" ? "" : " # " detail
	else if (verdict == "skip") printf "skip    %s # %s\n", name, detail
	else printf "FAIL    %s # %s\n", name, detail
}
BEGIN {
	while ((getline line < skips_file) > 0) {
		sub(/#.*/, "", line)
		if (line !~ /[^ \t]/) continue
		match(line, /^[ \t]*[^ \t]+/)
		g = substr(line, RSTART, RLENGTH); gsub(/[ \t]/, "", g)
		why = substr(line, RSTART + RLENGTH); sub(/^[ \t]+/, "", why); sub(/[ \t]+$/, "", why)
		skip_re[++nskip] = glob_to_re(g); skip_why[nskip] = why
	}
	report = ""; where = "boot"; guest_rc = -1
}
{
	line = $0
	sub(/\r$/, "", line)
	sub(/^\[[ 0-9.]+\] /, "", line)
}
line ~ /^hmm-mock-step: BEGIN / {
	split(line, f, " "); where = f[3]
	next
}
line ~ /^hmm-mock-step: END / {
	split(line, f, " "); rc = f[4]; sub(/^rc=/, "", rc)
	if (report != "") result("fail", "[" f[3] "]", "kernel: " report)
	else if (rc != 0 && f[3] != "job") result("fail", "[" f[3] "]", "exit status " rc)
	# A job that ran no harness program is judged as a whole.
	else if (f[3] == "job" && !nbins && rc == 0)
		result("ok", "[job]", "exited 0, no kernel report")
	report = ""; where = "between steps"
	next
}
line ~ /^hmm-mock-bin: START / {
	split(line, f, " "); bin = f[3]; nbins++
	planned[bin] = -1; reported[bin] = 0; failed[bin] = 0; totals[bin] = 0
	next
}
line ~ /^hmm-mock-tap: / {
	rest = line; sub(/^hmm-mock-tap: /, "", rest)
	b = rest; sub(/: .*/, "", b)
	tap = rest; sub(/^[^:]*: /, "", tap)
	if (tap ~ /^1\.\.[0-9]+/) { n = tap; sub(/^1\.\./, "", n); sub(/[^0-9].*/, "", n); planned[b] = n + 0; next }
	if (tap ~ /^# Totals:/) { totals[b] = 1; next }
	# The harness's own time limit ended the test (its child may still be
	# stuck in the kernel); say so rather than a bare "test failed".
	if (tap ~ /: Test terminated by timeout$/) { harness_timeout = 1; next }
	if (tap ~ /^#  RUN /) {
		running = tap; harness_timeout = 0; sub(/^#  RUN +/, "", running); sub(/ \.\.\.$/, "", running)
		unfinished = b ":" running
		next
	}
	ok = (tap ~ /^ok /)
	name = tap; sub(/^(not )?ok [0-9]+ /, "", name)
	detail = ""
	# Older harnesses (6.1) print "ok N # SKIP reason" without the name.
	if (name ~ /^# /) { detail = substr(name, 3); name = running }
	else if (match(name, / # /)) { detail = substr(name, RSTART + 3); name = substr(name, 1, RSTART - 1) }
	if (name == "") name = "test " reported[b] + 1
	reported[b]++
	full = b ":" name
	unfinished = ""
	if (report != "") { result("fail", full, "kernel: " report); failed[b]++ }
	else if (!ok && harness_timeout) { result("fail", full, "timed out: the harness's limit ended it"); failed[b]++ }
	else if (!ok) { result("fail", full, detail == "" ? "test failed" : detail); failed[b]++ }
	else if (detail ~ /^SKIP/) {
		why = detail; sub(/^SKIP[ ]*/, "", why)
		if (expected_skip(name, why) || expected_skip(full, why)) result("skip", full, why)
		else { result("fail", full, "unexpected SKIP: " why); failed[b]++ }
	}
	else if (detail ~ /^XFAIL/) result("ok", full, "")
	else if (detail != "") { result("fail", full, "unexpected " detail); failed[b]++ }
	else result("ok", full, "")
	report = ""; harness_timeout = 0
	next
}
line ~ /^hmm-mock-bin: END / {
	split(line, f, " "); b = f[3]; rc = f[4]; sub(/^rc=/, "", rc)
	if (unfinished != "") {
		result("fail", unfinished, report != "" ? "kernel: " report : "no result: the program died in it")
		report = ""; unfinished = ""
	}
	if (report != "") result("fail", b ":[after last test]", "kernel: " report)
	else if (planned[b] < 0 || reported[b] != planned[b] || !totals[b])
		result("fail", b, sprintf("reported %d of %d planned results%s", reported[b],
		       planned[b], totals[b] ? "" : ", no totals (crashed?)"))
	else if (rc != 0 && !failed[b]) result("fail", b, "exited " rc " with no failed test")
	report = ""
	next
}
line ~ /^hmm-mock-exit: rc=/ {
	guest_rc = line; sub(/^hmm-mock-exit: rc=/, "", guest_rc); guest_rc += 0
	next
}
# Informational lines the report pattern below would catch that report no
# problem. Exact matches only.
#   A guest without a PMU (QEMU TCG) cannot run the perf-based NMI hard
#   lockup detector; kernels that have it (Debian stock) say so at boot.
line ~ /^NMI watchdog: Perf NMI watchdog permanently disabled$/ { next }
#   The RCU boot banner of a PROVE_LOCKING kernel (6.12-debug).
line ~ /^rcu: \tRCU lockdep checking is enabled\.$/ { next }
# Not "kmemleak: N new suspected": a scan counts every leak in the kernel,
# most of them not ours (boot-time ones). The guest judges leaks itself, in
# a [kmemleak] step that fails on leaks allocated by hmm_mock.
line ~ /^\*\* [0-9]+ printk messages dropped \*\*/ ||
line ~ /WARNING:|BUG:|Oops|kernel BUG|general protection fault|Bad page|UBSAN:|Kernel panic|INFO: task .* blocked|rcu: INFO|(^|[^_[:alnum:]])lockdep([^_[:alnum:]]|$)|watchdog: / {
	if (report == "") report = line
}
END {
	# The test the VM died in fails by name, with the report if there is one.
	if (unfinished != "") {
		result("fail", unfinished, report != "" ? "kernel: " report : "no result: the VM crashed, hung or timed out in it")
		report = ""
	}
	if (report != "") result("fail", "[" where "]", "kernel: " report)
	if (guest_rc < 0) result("fail", "[guest]", "no exit marker: the VM crashed, hung or timed out")
	else if (guest_rc != 0 && !nfail) result("fail", "[guest]", "job exited " guest_rc)
	if (ktap) {
		printf "KTAP version 1\n1..%d\n", nresults
		for (k = 1; k <= nresults; k++) {
			if (k in ktap_why) print ktap_why[k]
			print ktap_line[k]
		}
		printf "# "
	}
	printf "%d passed, %d failed, %d skipped\n", npass, nfail, nskip_seen
	exit (nfail || guest_rc != 0) ? 1 : 0
}
