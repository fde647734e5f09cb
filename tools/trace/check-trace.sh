#!/bin/sh
# check-trace.sh TRACE TARGET - upager-trace against upager's own count.
#
# trace-target takes one userfaultfd fault per page it writes and prints
# upager's stats.faults; upager-trace, run on it, must find as many faults
# that slept in the target's region (placed at a fixed address so the
# region can be named up front), and about as many in the whole process:
# within 5% + 5 faults (a few kernel-handled faults may sleep too, and a
# userfaultfd fault answered before its thread got to sleep does not).
# Exit 0 pass, 1 fail (including a verifier rejection), 77 skip (not root,
# BPF refused without a verifier log, or no userfaultfd).
# upager-trace exits with the command's status, 125 for its own failure.
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

# member NAME: the number after "NAME": on its line of the report.
member() {
	sed -n "s/^ *\"$1\": \(-\{0,1\}[0-9][0-9]*\),\{0,1\}\$/\1/p" "$tmp/report.json"
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
slept=$(member faults_slept)
# The region's count, and the report checked by a JSON parser: schema
# fields, and every histogram's buckets ascending, adding up to its count.
region=$(python3 - "$tmp/report.json" "$start" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == 1 and r["record"] == "trace" and r["version"] and r["kernel"], r
for name, h in r["latency"].items():
    b = h["buckets"]
    assert sum(n for _, _, n in b) == h["count"], name
    assert all(lo <= hi for lo, hi, _ in b) and all(b[i][1] < b[i + 1][0] for i in range(len(b) - 1)), name
    assert not b or b[-1][0] <= h["max_ns"] <= b[-1][1], name
print([x["slept"] for x in r["regions"] if x["start"] == sys.argv[2]][0])
PYEOF
)
if [ -z "$upager" ] || [ -z "$slept" ] || [ -z "$region" ]; then
	echo "FAIL: could not read upager_faults, faults_slept or the region's count"
	exit 1
fi

fail=0
# The exit status: the command's, 128+N for signal N, 125 for a usage
# error told in one line and a hint.
"$trace" -- sh -c 'exit 3' >/dev/null 2>&1
[ $? = 3 ] || { echo "FAIL: the command's exit status 3 not passed on"; fail=1; }
"$trace" -- sh -c 'kill -9 $$' >/dev/null 2>&1
[ $? = 137 ] || { echo "FAIL: a command killed by SIGKILL is not 137"; fail=1; }
"$trace" --bogus >/dev/null 2>"$tmp/usage.err"
rc=$?
if [ $rc != 125 ] || [ "$(wc -l <"$tmp/usage.err")" != 2 ] ||
	! grep -q "^Try 'upager-trace --help'" "$tmp/usage.err"; then
	echo "FAIL: an unknown option: status $rc, $(wc -l <"$tmp/usage.err") lines:"
	cat "$tmp/usage.err"
	fail=1
fi
tolerance=$((upager * 5 / 100 + 5))
for pair in "region:$region" "process:$slept"; do
	name=${pair%%:*}
	n=${pair#*:}
	diff=$((n - upager))
	[ "$diff" -lt 0 ] && diff=$((-diff))
	if [ "$diff" -le "$tolerance" ]; then
		verdict=ok
	else
		verdict=FAIL
		fail=1
	fi
	echo "$verdict: faults that slept ($name) $n vs upager_faults $upager" \
		"(|diff| $diff, tolerance $tolerance)"
done
echo "faults woken before they slept (untimed): $(member faults_awake_woken)"
exit $fail
