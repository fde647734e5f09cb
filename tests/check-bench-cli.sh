#!/bin/bash
# check-bench-cli.sh - upager-bench as a script sees it (issues 19, 21):
# one program with the subcommands faults, swap and file; a usage error is
# one line and "Try 'upager-bench SUB --help'." with status 125, a bad
# value names the option and its range; --version; --json is one object
# of the one schema (parsed by Python's JSON parser); --progress writes
# the time left into a log; the kernel baseline picks its memory cgroup,
# v1 or v2, and says so.
#
# usage: check-bench-cli.sh UPAGER_BENCH
set -uo pipefail

BENCH=$1
PY=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d /var/tmp/upager-check-bench.XXXXXX)
cg2=
cleanup() {
	[ -n "$cg2" ] && umount "$cg2" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail=0

# run NAME COMMAND...: COMMAND's status in $rc, its output in $work/NAME.out
# and NAME.err.
run() {
	local name=$1
	shift
	"$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null
	rc=$?
}

# check NAME WHAT TEST...: TEST (a command) holds, or NAME fails, its
# stderr shown.
check() {
	local name=$1 what=$2
	shift 2
	if "$@"; then
		echo "ok   $name: $what"
		return 0
	fi
	echo "FAIL $name: $what"
	[ -f "$work/$name.err" ] && sed 's/^/  /' "$work/$name.err" | tail -10
	fail=1
	return 1
}

# expect NAME STATUS PATTERN -- COMMAND...: COMMAND exits STATUS, its
# stderr matching PATTERN (grep -E) when one is given.
expect() {
	local name=$1 want=$2 pat=$3
	shift 4
	run "$name" "$@"
	check "$name" "status $rc, want $want" test "$rc" -eq "$want" &&
		{ [ -z "$pat" ] || check "$name" "stderr /$pat/" grep -Eq -- "$pat" "$work/$name.err"; }
}

# usage_error NAME SUB PATTERN -- ARGS...: status 125, exactly two lines on
# stderr, the first matching PATTERN, the second the "Try" line.
usage_error() {
	local name=$1 sub=$2 pat=$3
	shift 4
	expect "$name" 125 "$pat" -- "$BENCH" "$@"
	check "$name" "one line, then the Try line" test "$(wc -l <"$work/$name.err")" -eq 2 -a \
		"$(tail -1 "$work/$name.err")" = "Try 'upager-bench${sub:+ $sub} --help'."
}

# --- the program and its subcommands -------------------------------------------
expect version 0 "" -- "$BENCH" --version
check version "upager-bench X (libupager Y)" \
	grep -Eq '^upager-bench [0-9.]+ \(libupager [0-9.]+\)$' "$work/version.out"
usage_error no-subcommand "" 'which benchmark' -- 
usage_error bad-subcommand "" "unknown subcommand 'nosuch'" -- nosuch
expect help 0 "" -- "$BENCH" --help
for sub in faults swap file; do
	check help "--help lists $sub" grep -q "^  $sub " "$work/help.out"
	expect "$sub-version" 0 "" -- "$BENCH" "$sub" --version
	expect "$sub-help" 0 "" -- "$BENCH" "$sub" --help
	check "$sub-help" "--help gives the exit status" \
		grep -q 'Exit status: .*125' <(tr '\n' ' ' <"$work/$sub-help.out")
	usage_error "$sub-unknown" "$sub" "^upager-bench $sub: unknown option --nosuch$" -- "$sub" --nosuch
	usage_error "$sub-unknown-short" "$sub" "unknown option -Z$" -- "$sub" -Z
	usage_error "$sub-runs" "$sub" "invalid value for --runs: 'abc' \(a whole number, 1 to [0-9]+\)" \
		-- "$sub" --runs abc
	usage_error "$sub-missing" "$sub" "option --runs needs a value" -- "$sub" --runs
	usage_error "$sub-extra" "$sub" "unexpected argument: extra" -- "$sub" extra
done
usage_error faults-kinds faults "invalid value for --kinds: 'nosuch' \(a comma-separated list of .*refault" \
	-- faults --kinds nosuch
usage_error swap-size swap "invalid value for --budget: '12Q' \(a size, " -- swap --budget 12Q
usage_error file-handlers file "invalid value for --handlers: '99' \(a whole number, 1 to 64\)" \
	-- file --handlers 99

# --- one JSON schema ---------------------------------------------------------------
# json NAME SUB ARGS...: the subcommand's --json is one object of schema 1.
json() {
	local name=$1 sub=$2
	shift 2
	run "$name" "$BENCH" "$sub" --json "$@"
	check "$name" "status $rc" test "$rc" -eq 0 || return
	if "$PY" - "$work/$name.out" "$sub" "$(uname -r)" "$("$BENCH" --version)" <<'EOF'; then
import json, sys
path, sub, kernel, version = sys.argv[1:]
d = json.load(open(path))
want = {"schema": 1, "record": "bench", "tool": "upager-bench", "subcommand": sub,
        "kernel": kernel, "data_ok": True}
for k, v in want.items():
    assert d.get(k) == v, f"{k}: {d.get(k)!r}, not {v!r}"
assert version.startswith(f"upager-bench {d['tool_version']} (libupager {d['version']})"), version
assert isinstance(d["config"], dict) and d["config"]["runs"] == 1, d["config"]
assert d["rows"], "no rows"
for r in d["rows"]:
    assert isinstance(r["impl"], str) and "pages_per_s" in r and "runs_valid" in r, r
    assert "max_us" in r, r
for t in d["targets"]:
    assert set(t) == {"what", "value", "bound", "at_most", "met"}, t
assert all(isinstance(n, str) for n in d["notes"])
EOF
		echo "ok   $name: schema 1, $sub, $(grep -c '"impl"' "$work/$name.out") rows"
	else
		check "$name" "one object of schema 1" false
	fi
}
json json-faults faults --quick --kinds minor --threads 1 --placement same
json json-swap swap --quick --no-kernel --region 1M --budget 256K --ops 64 --threads 1 \
	--dir "$work"
json json-file file --quick --file-size 1M --budget 256K --ops 64 --dir "$work"

# --- progress into a log --------------------------------------------------------------
expect progress 0 "" -- "$BENCH" file --progress --runs 2 --file-size 1M --budget 256K --ops 64 \
	--dir "$work"
check progress "a line for the first step" \
	grep -Eq '^upager-bench file: 1/4 \([0-9]+s\): run 1/2: ' "$work/progress.err"
check progress "the last step's line has the time left" \
	grep -Eq '^upager-bench file: 4/4 \([0-9]+s, [0-9hms]+ left\): run 2/2: ' "$work/progress.err"

# --- the kernel baseline's memory cgroup ------------------------------------------------
# kernel_in NAME KIND ARGS...: a small swap run (an 8 MiB cgroup: at 1 MiB
# the kernel child of a sanitizer build was OOM-killed under load) with the kernel part has
# kernel rows in a memory cgroup of KIND ("cgroup v1 ...", "cgroup v2 ..."),
# unless another kernel part holds the machine.
kernel_in() {
	local name=$1 kind=$2
	shift 2
	run "$name" "$BENCH" swap --json --quick --region 16M --budget 8M --ops 64 --threads 1 \
		--dir "$work" "$@"
	if grep -q 'another upager-bench swap is running' "$work/$name.err"; then
		echo "skip $name: another kernel part runs on this machine"
		return
	fi
	check "$name" "kernel rows in a $kind cgroup" \
		grep -q "\"kernel_cgroup\":\"$kind" "$work/$name.out" &&
		check "$name" "kernel rows" grep -q '"impl":"kernel"' "$work/$name.out"
}

if [ "$(id -u)" -ne 0 ]; then
	echo "skip cgroup: not root"
	exit $fail
fi
[ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ] &&
	kernel_in cgroup-v1 "cgroup v1 memory.limit_in_bytes" --cgroup /sys/fs/cgroup/memory
# A cgroup2 mount of our own: v2 is used when it has the memory controller,
# and said not to be when the controller is bound to v1.
cg2=$work/cg2
mkdir -p "$cg2"
if ! mount -t cgroup2 none "$cg2" 2>/dev/null; then
	echo "skip cgroup-v2: cannot mount cgroup2"
	cg2=
elif grep -qw memory "$cg2/cgroup.controllers"; then
	mkdir -p "$cg2/upager-check-bench.$$"
	kernel_in cgroup-v2 "cgroup v2 memory.max" --cgroup "$cg2/upager-check-bench.$$"
	rmdir "$cg2/upager-check-bench.$$"
else
	run cgroup-v2 "$BENCH" swap --json --quick --region 2M --budget 1M --ops 64 --threads 1 \
		--dir "$work" --cgroup "$cg2"
	check cgroup-v2 "memory is a v1 controller here: the v2 mount is refused, with the reason" \
		grep -q "kernel part skipped: cgroup v2 at $cg2: no memory controller there" \
		"$work/cgroup-v2.err" &&
		check cgroup-v2 "the JSON says why" grep -q '"kernel_skipped":"cgroup v2 at' \
		"$work/cgroup-v2.out"
fi
exit $fail
