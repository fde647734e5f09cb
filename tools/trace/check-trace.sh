#!/bin/sh
# check-trace.sh TRACE TARGET - upager-trace against upager's own count.
#
# trace-target takes one userfaultfd fault per page it writes and prints
# upager's stats.faults. Both sides count the same events, so they must
# agree exactly: each of those faults is one user page fault in the
# target's region (placed at a fixed address so the region can be named up
# front), and upager counts each fault it serves once. How many of them
# slept depends on timing (a fault answered before its thread got to sleep
# does not), so only their sum is compared: slept + did not sleep = the
# region's faults. The whole process takes more faults than the region
# (kernel-handled ones), never fewer.
# Exit 0 pass, 1 fail (including a verifier rejection), 77 skip (not root,
# BPF refused without a verifier log, or no userfaultfd).
set -u

trace=$1
target=$2
start=0x6a0000000000
end=0x6a0000400000 # 1024 pages of 4 KiB

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: loading BPF programs needs root"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$trace" --json -o "$tmp/report.json" --region "$start-$end" -- "$target" "$start" \
	>"$tmp/target.out" 2>"$tmp/stderr"
rc=$?
cat "$tmp/stderr" >&2
case $rc in
0) ;;
125)
	# A verifier log means the kernel read the programs and rejected
	# them: a bug here (or a kernel change) to fix, not a missing feature.
	if grep -q 'BEGIN PROG LOAD LOG' "$tmp/stderr"; then
		echo "FAIL: the verifier rejected upager-trace's BPF programs (log above)"
		exit 1
	fi
	echo "SKIP: upager-trace could not load its BPF programs here:"
	grep 'upager-trace' "$tmp/stderr"
	exit 77
	;;
77) ;; # trace-target's own skip, read from the report below
*)
	echo "FAIL: upager-trace exited $rc"
	exit 1
	;;
esac
cat "$tmp/target.out"
cat "$tmp/report.json"

# member NAME: the report's top-level member NAME (empty when null).
member() {
	python3 -c 'import json, sys
v = json.load(open(sys.argv[1])).get(sys.argv[2])
print("" if v is None else v)' "$tmp/report.json" "$1"
}

status=$(member command_status)
if [ "$status" = 77 ]; then
	echo "SKIP: trace-target found no usable userfaultfd"
	exit 77
fi
if [ "$status" != 0 ]; then
	echo "FAIL: trace-target exited ${status:-?}"
	exit 1
fi
upager=$(sed -n 's/^upager_faults=\([0-9][0-9]*\)$/\1/p' "$tmp/target.out")
faults=$(member faults)
lost=$(member faults_lost)
# The report checked by a JSON parser (schema fields; every histogram's
# buckets ascending, adding up to its count), and region NAME: NAME's
# count in the target's region.
python3 - "$tmp/report.json" <<'PYEOF' || { echo "FAIL: the JSON report (above)"; exit 1; }
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == 1 and r["record"] == "trace" and r["version"] and r["kernel"], r
for name, h in r["latency"].items():
    b = h["buckets"]
    assert sum(n for _, _, n in b) == h["count"], name
    assert all(lo <= hi for lo, hi, _ in b) and all(b[i][1] < b[i + 1][0] for i in range(len(b) - 1)), name
    assert not b or b[-1][0] <= h["max_ns"] <= b[-1][1], name
PYEOF
region() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print([x[sys.argv[3]] for x in r["regions"] if x["start"] == sys.argv[2]][0])' \
		"$tmp/report.json" "$start" "$1"
}
r_faults=$(region faults)
r_slept=$(region slept)
r_awake=$(region awake)
for v in "$upager" "$faults" "$lost" "$r_faults" "$r_slept" "$r_awake"; do
	if [ -z "$v" ]; then
		echo "FAIL: could not read upager_faults, faults, faults_lost or the region's" \
			"faults, slept and awake counts"
		exit 1
	fi
done

fail=0
# check WHY OK MESSAGE: the verdict on one comparison (OK is 1 when it
# holds); WHY says what a failure means.
check() {
	if [ "$2" = 1 ]; then
		echo "ok: $3"
	else
		echo "FAIL: $3 ($1)"
		fail=1
	fi
}
check "faults not tracked: the tracer's map was full" "$([ "$lost" -eq 0 ] && echo 1)" \
	"faults lost $lost"
check "each upager fault is one user page fault in the region" \
	"$([ "$r_faults" -eq "$upager" ] && echo 1)" \
	"faults in the region $r_faults = upager_faults $upager"
check "a region fault neither slept nor ended awake (its thread never ran again)" \
	"$([ $((r_slept + r_awake)) -eq "$r_faults" ] && echo 1)" \
	"slept $r_slept + did not sleep $r_awake = faults in the region $r_faults"
check "the process took fewer faults than its region" \
	"$([ "$faults" -ge "$r_faults" ] && echo 1)" \
	"faults in the process $faults >= faults in the region $r_faults"
# The exit status: the command's, 128+N for signal N, 125 for a usage
# error told in one line and a hint.
"$trace" -- sh -c 'exit 3' >/dev/null 2>&1
check "the command's status is upager-trace's" "$([ $? = 3 ] && echo 1)" "exit 3 passed on"
"$trace" -- sh -c 'kill -9 $$' >/dev/null 2>&1
check "a command killed by signal N is 128+N" "$([ $? = 137 ] && echo 1)" "SIGKILL is 137"
"$trace" --bogus >/dev/null 2>"$tmp/usage.err"
rc=$?
check "a usage error is 125, one line and a hint" \
	"$([ $rc = 125 ] && [ "$(wc -l <"$tmp/usage.err")" = 2 ] &&
		grep -q "^Try 'upager-trace --help'" "$tmp/usage.err" && echo 1)" \
	"an unknown option: status $rc, $(wc -l <"$tmp/usage.err") lines"
echo "faults woken before they slept (untimed): $(member faults_awake_woken)"
exit $fail
