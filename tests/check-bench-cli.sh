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

bad() { echo "FAIL $1: $2"; [ -n "${3:-}" ] && sed 's/^/  /' "$3" | tail -10; fail=1; }
ok() { echo "ok   $1: $2"; }

# expect NAME STATUS PATTERN -- COMMAND...: COMMAND exits STATUS and its
# stderr matches PATTERN (grep -E).
expect() {
	local name=$1 want=$2 pat=$3 rc
	shift 4
	"$@" >"$work/$name.out" 2>"$work/$name.err" </dev/null
	rc=$?
	if [ $rc -ne "$want" ]; then
		bad "$name" "exit status $rc, not $want" "$work/$name.err"
	elif [ -n "$pat" ] && ! grep -Eq -- "$pat" "$work/$name.err"; then
		bad "$name" "status $rc, but stderr lacks /$pat/" "$work/$name.err"
	else
		ok "$name" "status $rc"
	fi
}

# usage_error NAME SUB PATTERN -- ARGS...: status 125, exactly two lines on
# stderr, the first matching PATTERN, the second the "Try" line.
usage_error() {
	local name=$1 sub=$2 pat=$3 try
	shift 4
	expect "$name" 125 "$pat" -- "$BENCH" "$@"
	try="Try 'upager-bench${sub:+ $sub} --help'."
	if [ "$(wc -l <"$work/$name.err")" -ne 2 ] || [ "$(tail -1 "$work/$name.err")" != "$try" ]; then
		bad "$name-lines" "not one line and \"$try\"" "$work/$name.err"
	fi
}

# --- the program and its subcommands -------------------------------------------
expect version 0 "" -- "$BENCH" --version
grep -Eq '^upager-bench [0-9.]+ \(libupager [0-9.]+\)$' "$work/version.out" ||
	bad version-text "$(cat "$work/version.out")"
usage_error no-subcommand "" 'which benchmark' -- 
usage_error bad-subcommand "" "unknown subcommand 'nosuch'" -- nosuch
expect help 0 "" -- "$BENCH" --help
for sub in faults swap file; do
	grep -q "^  $sub " "$work/help.out" || bad help-lists "--help does not list $sub"
	expect "$sub-version" 0 "" -- "$BENCH" "$sub" --version
	expect "$sub-help" 0 "" -- "$BENCH" "$sub" --help
	grep -q 'Exit status: .*125' <(tr '\n' ' ' <"$work/$sub-help.out") ||
		bad "$sub-help-status" "--help does not give the exit status"
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
	if ! "$BENCH" "$sub" --json "$@" >"$work/$name.json" 2>"$work/$name.err" </dev/null; then
		bad "$name" "status $?" "$work/$name.err"
		return
	fi
	if "$PY" - "$work/$name.json" "$sub" "$(uname -r)" "$("$BENCH" --version)" <<'EOF'; then
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
		ok "$name" "schema 1, $sub, $(grep -c '"impl"' "$work/$name.json") rows"
	else
		bad "$name" "not the schema" "$work/$name.json"
	fi
}
json json-faults faults --quick --kinds minor --threads 1 --placement same
json json-swap swap --quick --no-kernel --region 1M --budget 256K --ops 64 --threads 1 \
	--dir "$work"
json json-file file --quick --file-size 1M --budget 256K --ops 64 --dir "$work"

# --- progress into a log --------------------------------------------------------------
expect progress 0 "" -- "$BENCH" file --progress --runs 2 --file-size 1M --budget 256K --ops 64 \
	--dir "$work"
if grep -Eq '^upager-bench file: 1/4 \([0-9]+s\): run 1/2: ' "$work/progress.err" &&
   grep -Eq '^upager-bench file: 4/4 \([0-9]+s, [0-9hms]+ left\): run 2/2: ' "$work/progress.err"; then
	ok progress-log "one line a step, with the time left"
else
	bad progress-log "no step lines with the time left" "$work/progress.err"
fi

# --- the kernel baseline's memory cgroup ------------------------------------------------
# swap_cgroup NAME ARGS...: the tiny swap run with the kernel part; its
# stderr and JSON in $work/NAME.*.
swap_cgroup() {
	local name=$1
	shift
	"$BENCH" swap --json --quick --region 2M --budget 1M --ops 64 --threads 1 --dir "$work" \
		"$@" >"$work/$name.json" 2>"$work/$name.err" </dev/null
}
if [ "$(id -u)" -ne 0 ]; then
	echo "skip cgroup: not root"
else
	if [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
		swap_cgroup cgroup-v1 --cgroup /sys/fs/cgroup/memory
		if grep -q 'another upager-bench swap is running' "$work/cgroup-v1.err"; then
			echo "skip cgroup-v1: another kernel part runs on this machine"
		elif grep -q '"kernel_cgroup":"cgroup v1 memory.limit_in_bytes"' "$work/cgroup-v1.json" &&
		     grep -q '"impl":"kernel"' "$work/cgroup-v1.json"; then
			ok cgroup-v1 "kernel rows, in a cgroup v1 memory cgroup"
		else
			bad cgroup-v1 "no kernel rows in a v1 memory cgroup" "$work/cgroup-v1.err"
		fi
	fi
	# A cgroup2 mount of our own: v2 is used when it has the memory
	# controller, and said not to be when the controller is bound to v1.
	cg2=$work/cg2
	mkdir -p "$cg2"
	if ! mount -t cgroup2 none "$cg2" 2>/dev/null; then
		echo "skip cgroup-v2: cannot mount cgroup2"
		cg2=
	elif grep -qw memory "$cg2/cgroup.controllers"; then
		mkdir -p "$cg2/upager-check-bench.$$"
		swap_cgroup cgroup-v2 --cgroup "$cg2/upager-check-bench.$$"
		if grep -q 'another upager-bench swap is running' "$work/cgroup-v2.err"; then
			echo "skip cgroup-v2: another kernel part runs on this machine"
		elif grep -q '"kernel_cgroup":"cgroup v2 memory.max' "$work/cgroup-v2.json" &&
		     grep -q '"impl":"kernel"' "$work/cgroup-v2.json"; then
			ok cgroup-v2 "kernel rows, in a cgroup v2 memory.max cgroup"
		else
			bad cgroup-v2 "no kernel rows in a v2 cgroup" "$work/cgroup-v2.err"
		fi
		rmdir "$cg2/upager-check-bench.$$"
	else
		swap_cgroup cgroup-v2 --cgroup "$cg2"
		if grep -q "kernel part skipped: cgroup v2 at $cg2: no memory controller there" \
			"$work/cgroup-v2.err" && grep -q '"kernel_skipped":"cgroup v2 at' "$work/cgroup-v2.json"; then
			ok cgroup-v2 "memory is a v1 controller here: the v2 cgroup is refused, and why"
		else
			bad cgroup-v2 "a v2 mount without memory not refused with its reason" "$work/cgroup-v2.err"
		fi
	fi
fi
exit $fail
