# SPDX-License-Identifier: GPL-2.0
# Judged results ("ok|skip|FAIL  NAME # why" lines of vm/verdict or
# vm/test-all) as a JUnit XML file, one testcase each: classname is NAME up
# to its last ':' (lane and program), name what follows.
#   awk -v suite=NAME -f vm/lib/junit.awk VERDICT...
function esc(s) {
	gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s)
	gsub(/"/, "\\&quot;", s); gsub(/[\001-\010\013\014\016-\037]/, "?", s)
	return s
}
/^(ok|skip|FAIL) / {
	v = $1
	name = $0; sub(/^[^ ]+ +/, "", name)
	why = ""
	if (match(name, / # /)) { why = substr(name, RSTART + 3); name = substr(name, 1, RSTART - 1) }
	cls = name; test = name
	if (match(name, /:[^:]*$/)) { cls = substr(name, 1, RSTART - 1); test = substr(name, RSTART + 1) }
	else cls = suite
	line = sprintf("    <testcase classname=\"%s\" name=\"%s\"", esc(cls), esc(test))
	if (v == "ok") line = line "/>"
	else if (v == "skip") { line = line sprintf("><skipped message=\"%s\"/></testcase>", esc(why)); nskip++ }
	else { line = line sprintf("><failure message=\"%s\"/></testcase>", esc(why)); nfail++ }
	cases[++n] = line
}
END {
	print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	printf "<testsuites name=\"hmm-mock\" tests=\"%d\" failures=\"%d\" skipped=\"%d\">\n", n, nfail, nskip
	printf "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\">\n", esc(suite), n, nfail, nskip
	for (i = 1; i <= n; i++) print cases[i]
	print "  </testsuite>"
	print "</testsuites>"
}
