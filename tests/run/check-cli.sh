#!/bin/bash
# check-cli.sh - upager-run as a script sees it (issue 21): env(1)'s exit
# codes, one-line usage errors, every option's environment twin honoured
# and checked before the program starts, the pid in every log line, and
# --stats-json through a pipe, parsed by a JSON parser.
#
# usage: check-cli.sh UPAGER_RUN MT_HEAP STATIC_PROG UPAGER_H
set -uo pipefail

RUN=$1 MT_HEAP=$2 STATIC=$3 HEADER=$4
PY=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d /var/tmp/upager-check-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
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
		ok "$name" "status $rc${pat:+: $(grep -Em1 -- "$pat" "$work/$name.err")}"
	fi
}

# 1. Exit codes: the program's own, 128+N, 126, 127, 125 for upager-run's.
printf 'not a program\n' >"$work/noexec"; chmod 644 "$work/noexec"
expect status-own 3 '' -- "$RUN" -m 16M -- sh -c 'exit 3'
expect status-one 1 '' -- "$RUN" -m 16M -- false
expect status-signal 143 '' -- "$RUN" -m 16M -- sh -c 'kill -TERM $$'
expect not-found 127 'No such file' -- "$RUN" -m 16M -- "$work/missing"
expect not-found-path 127 'No such file' -- "$RUN" -m 16M -- upager-no-such-program
expect not-executable 126 'Permission denied' -- "$RUN" -m 16M -- "$work/noexec"
expect no-program 125 "Try 'upager-run --help'" -- "$RUN" -m 16M
expect no-budget 125 'max-resident' -- env -u UPAGER_MAX_RESIDENT "$RUN" -- true
expect unpageable 125 'statically linked' -- "$RUN" -m 16M -- "$STATIC" mlock 1

# 2. An unknown flag or a bad value: one line saying what, one saying
#    where to read more; the value's option and range named.
expect unknown-flag 125 "unrecognized option '--bogus'" -- "$RUN" --bogus -m 16M -- true
if [ "$(wc -l <"$work/unknown-flag.err")" -ne 2 ] || ! grep -q "^Try 'upager-run --help'" "$work/unknown-flag.err"; then
	bad unknown-flag-short "not two lines ending in Try 'upager-run --help'" "$work/unknown-flag.err"
else
	ok unknown-flag-short "two lines"
fi
expect bad-threads 125 "--threads 'abc': not a number from 1 to 64" -- "$RUN" -m 16M -t abc -- true
expect bad-threads-0 125 "--threads '0': not a number from 1 to 64" -- "$RUN" -m 16M -t 0 -- true
expect bad-size 125 "--max-resident 'lots': not a size .*at least 256K" -- "$RUN" -m lots -- true
expect small-swap 125 'swap_size of 102400 bytes; it takes .* KiB at least' -- "$RUN" -m 16M -S 100K -- true
expect version 0 '' -- "$RUN" --version
grep -Eq '^upager-run [0-9]+\.[0-9]+\.[0-9]+ \(libupager [0-9]+\.[0-9]+\.[0-9]+\)$' "$work/version.out" ||
	bad version-text "not 'upager-run X.Y.Z (libupager X.Y.Z)'" "$work/version.out"

# 3. Every option's twin in the environment: a bad value is refused by
#    name with 125 before the program runs (it would leave a marker); a
#    good one does what its option does.
marker=$work/ran
for bad_env in UPAGER_MAX_RESIDENT=lots UPAGER_SWAP_SIZE=lots UPAGER_THREADS=many \
	UPAGER_RUN_MIN=abc UPAGER_FALLBACK=yes UPAGER_STATS=yes UPAGER_LOG=loud \
	UPAGER_FAULT_AROUND=-1 UPAGER_SWAP_READAHEAD=x UPAGER_HANDLER_CPU=$(nproc) \
	UPAGER_HANDLER_CPU=99999 UPAGER_STATS_INTERVAL=0 UPAGER_COMPRESS=gzip \
	UPAGER_COMPRESS_POOL=0 UPAGER_COMPRESS_POOL=95; do
	var=${bad_env%%=*} cap=(-m 16M)
	[ "$var" = UPAGER_MAX_RESIDENT ] && cap=() # -m would replace it
	rm -f "$marker"
	expect "env-$bad_env" 125 "$var" -- env "$bad_env" "$RUN" "${cap[@]}" -- sh -c ": >'$marker'"
	[ -e "$marker" ] && bad "env-$bad_env" "the program ran"
done
expect env-max-resident 0 '' -- env UPAGER_MAX_RESIDENT=16M "$RUN" -- true
expect env-threads 0 '' -- env UPAGER_THREADS=2 "$RUN" -m 16M -- true
expect bad-compress 125 "--compress 'gzip': not off, lz4 or zstd" -- "$RUN" -m 16M --compress gzip -- true
expect bad-compress-pool 125 "--compress-pool '0': not a percentage from 1 to 90" -- \
	"$RUN" -m 16M --compress-pool 0 -- true
# The compressed tier, by option and by its twin: mt-heap's pages compress,
# so pages are stored compressed, and the JSON says so.
expect compress-lz4 0 '' -- "$RUN" -m 16M --compress lz4 --compress-pool 30 \
	--stats-json "$work/lz4.json" -- "$MT_HEAP" 32 1
expect env-compress 0 '' -- env UPAGER_COMPRESS=zstd UPAGER_COMPRESS_POOL=30 "$RUN" -m 16M \
	--stats-json "$work/zstd.json" -- "$MT_HEAP" 32 1
for j in lz4 zstd; do
	"$PY" -c 'import json, sys
runs = [r for r in map(json.loads, open(sys.argv[1])) if r["record"] == "run"]
t = runs[0]["totals"]
sys.exit(not (t["pool_stored"] > 0 or t["same_filled"] > 0 or t["compress_rejected"] > 0))' \
		"$work/$j.json" && ok "compress-$j-effect" "pages went through the tier" ||
		bad "compress-$j-effect" "no page went through the compressed tier" "$work/$j.json"
done
expect compress-default 0 '' -- "$RUN" -m 16M --stats-json "$work/off.json" -- "$MT_HEAP" 32 1
"$PY" -c 'import json, sys
runs = [r for r in map(json.loads, open(sys.argv[1])) if r["record"] == "run"]
t = runs[0]["totals"]
sys.exit(t["writebacks"] == 0 or t["pool_stored"] + t["compress_rejected"] != 0)' \
	"$work/off.json" && ok compress-off-default "no tier by default" ||
	bad compress-off-default "pages went through a tier nobody asked for" "$work/off.json"
mkdir "$work/swapdir"
expect env-swap 0 '' -- env UPAGER_SWAP="$work/swapdir" "$RUN" -m 16M -- sh -c \
	'ls /proc/$$/fd -l | grep -q swapdir'
# 32 MiB under a 16 MiB cap do not fit in 1 MiB of swap: SIGBUS.
expect env-swap-size 135 '' -- env UPAGER_SWAP_SIZE=1M "$RUN" -m 16M -- "$MT_HEAP" 32 1
expect env-run-min 0 '' -- env UPAGER_RUN_MIN=1G "$RUN" -m 16M --stats-json "$work/min.json" -- "$MT_HEAP" 32 1
expect env-fallback 0 'UNPAGED' -- env UPAGER_FALLBACK=1 "$RUN" -m 16M -- "$STATIC" mlock 1
expect env-stats 0 'peak resident' -- env UPAGER_STATS=1 "$RUN" -m 16M -- "$MT_HEAP" 8 1
expect env-log 0 '^upager\[[0-9]+\]: info: ' -- env UPAGER_LOG=info "$RUN" -m 16M -- "$MT_HEAP" 8 1
expect env-stats-json 0 '' -- env UPAGER_STATS_JSON="$work/env.json" "$RUN" -m 16M -- "$MT_HEAP" 8 1
grep -q '"record": "run"' "$work/env.json" 2>/dev/null && ok env-stats-json-file "run record written" ||
	bad env-stats-json-file "no run record in UPAGER_STATS_JSON's file"
# With UPAGER_RUN_MIN=1G nothing of 32 MiB is paged: no fault at all.
"$PY" -c 'import json, sys
runs = [r for r in map(json.loads, open(sys.argv[1])) if r["record"] == "run"]
sys.exit(runs[0]["totals"]["faults"] != 0)' "$work/min.json" && ok env-run-min-effect "no fault" ||
	bad env-run-min-effect "UPAGER_RUN_MIN=1G still paged the 32 MiB" "$work/min.json"

# 4. Every log line carries the pid, and lines of different processes
#    differ: a shell and its child each open a pager.
UPAGER_LOG=info "$RUN" -m 16M -- sh -c "'$MT_HEAP' 8 1; '$MT_HEAP' 8 1" >/dev/null 2>"$work/pids.err"
if grep '^upager' "$work/pids.err" | grep -Evq '^upager\[[0-9]+\]: (error|warn|info|debug): '; then
	bad log-pid "a log line without its pid" "$work/pids.err"
elif [ "$(grep -Eo '^upager\[[0-9]+\]' "$work/pids.err" | sort -u | wc -l)" -lt 2 ]; then
	bad log-pid "fewer than two pids in the log of three processes" "$work/pids.err"
else
	ok log-pid "$(grep -Eo '^upager\[[0-9]+\]' "$work/pids.err" | sort -u | wc -l) pids told apart"
fi

# 5. --stats-json -: standard output, through a pipe, every line parsed
#    by Python's JSON parser and checked against the schema
#    (docs/stats-json.md): every counter struct upager_stats has.
cat >"$work/validate.py" <<'PYEOF'
import json, re, sys
hdr = open(sys.argv[1]).read()
body = re.search(r"struct upager_stats \{(.*?)\n\};", hdr, re.S).group(1)
fields = set(re.findall(r"^\s*uint64_t (\w+);", body, re.M))
recs = [json.loads(l) for l in sys.stdin if l.strip()]
want_procs = int(sys.argv[2])
procs = [r for r in recs if r["record"] == "process"]
runs = [r for r in recs if r["record"] == "run"]
assert len(runs) == 1 and recs[-1] is runs[0], "one run record, last"
run = runs[0]
for r in recs:
    assert r["schema"] == 1 and re.match(r"^\d+\.\d+\.\d+$", r["version"]) and r["kernel"], r
for p in procs:
    missing = fields - set(p["stats"])
    assert not missing, "counters missing: %s" % sorted(missing)
    assert isinstance(p["pid"], int) and p["comm"], p
assert len(procs) >= want_procs and run["processes"] == len(procs), (len(procs), run["processes"])
assert run["status"] == int(sys.argv[3]), run["status"]
assert run["totals"]["faults"] == sum(p["stats"]["faults"] for p in procs)
assert run["totals"]["faults"] > 0
# Histograms: ascending disjoint buckets whose counts sum to the count;
# the fault service one has a sample per fault; the run's pools its
# processes' bucket by bucket.
names = ("fault_service_ns", "swap_read_ns", "swap_write_ns")
for r in recs:
    for n in names:
        h = r["histograms"][n]
        b = h["buckets"]
        assert sum(c for _, _, c in b) == h["count"], (n, h["count"])
        assert all(lo <= hi for lo, hi, _ in b) and all(b[i][1] < b[i + 1][0] for i in range(len(b) - 1)), n
        assert not b or b[-1][0] <= h["max_ns"] <= b[-1][1], (n, h["max_ns"], b[-1])
for p in procs:
    assert p["histograms"]["fault_service_ns"]["count"] == p["stats"]["faults"], p["pid"]
    assert p["histograms"]["fault_service_ns"]["max_ns"] == p["stats"]["service_ns_max"], p["pid"]
for n in names:
    pooled = {}
    for p in procs:
        for lo, hi, c in p["histograms"][n]["buckets"]:
            pooled[(lo, hi)] = pooled.get((lo, hi), 0) + c
    assert {(lo, hi): c for lo, hi, c in run["histograms"][n]["buckets"]} == pooled, n
    assert run["histograms"][n]["max_ns"] == max([p["histograms"][n]["max_ns"] for p in procs] + [0]), n
print("%d records, %d counters each, status %d, %d faults, %d buckets of fault service" %
      (len(recs), len(fields), run["status"], run["totals"]["faults"],
       len(run["histograms"]["fault_service_ns"]["buckets"])))
PYEOF
validate() { "$PY" "$work/validate.py" "$HEADER" "$@"; }
# (The program's status 4 is the run's; the pipe's is the parser's.)
if out=$({ "$RUN" -m 16M --stats-json - -- sh -c "'$MT_HEAP' 32 2 >/dev/null; exit 4" 2>"$work/pipe.err" || :; } |
	validate 1 4 2>&1); then
	ok stats-json-pipe "$out"
else
	bad stats-json-pipe "$out" "$work/pipe.err"
fi
if out=$("$RUN" -m 16M --stats-json /dev/stdout -- "$MT_HEAP" 16 1 2>/dev/null | grep '^{' | validate 1 0 2>&1); then
	ok stats-json-dev-stdout "$out"
else
	bad stats-json-dev-stdout "$out"
fi
# A name needing escapes reaches the JSON intact.
cp "$MT_HEAP" "$work/a\"b\\c"
if out=$("$RUN" -m 16M --stats-json - -- "$work/a\"b\\c" 8 1 2>/dev/null | grep '^{' |
	"$PY" -c 'import json, sys; rs = [json.loads(l) for l in sys.stdin]; c = rs[-1]["command"]; print(c); sys.exit(not c.endswith("a\"b\\c"))' 2>&1); then
	ok stats-json-escaped "command $out"
else
	bad stats-json-escaped "$out"
fi
# JSON only: no text summary without --stats.
"$RUN" -m 16M --stats-json "$work/only.json" -- "$MT_HEAP" 8 1 >/dev/null 2>"$work/only.err"
if grep -q 'peak resident' "$work/only.err"; then
	bad stats-json-only "a text summary without --stats" "$work/only.err"
else
	ok stats-json-only "no text summary"
fi
# UPAGER_STATS_INTERVAL: records reach the destination while the run
# goes on (the program itself finds them there), and the totals count
# each process once, from its record at exit.
UPAGER_STATS_INTERVAL=1 "$RUN" -m 16M --stats-json "$work/live.json" -- sh -c \
	"sleep 4; grep -c '\"when\": \"interval\"' '$work/live.json' >'$work/live.count'" 2>"$work/live.err"
if ! [ "$(cat "$work/live.count" 2>/dev/null || echo 0)" -ge 1 ]; then
	bad stats-interval "no interval record in the file while the program ran" "$work/live.err"
elif ! "$PY" -c 'import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
sys.exit(rs[-1]["processes"] != sum(r.get("when") == "at exit" for r in rs))' "$work/live.json"; then
	bad stats-interval "the run's processes count interval records" "$work/live.json"
else
	ok stats-interval "$(cat "$work/live.count") interval records seen by the running program"
fi
# The destination is checked before the program runs.
rm -f "$marker"
expect stats-json-nodir 125 'stats-json .*No such file or directory' -- "$RUN" -m 16M \
	--stats-json "$work/nodir/x.json" -- sh -c ": >'$marker'"
[ -e "$marker" ] && bad stats-json-nodir "the program ran"

# 7. --plot FILE.svg: the run's latency CDFs, an SVG a parser reads, one
#    panel per histogram with samples (swap ones too, under a small
#    budget), each drawing a CDF; a bad path found before the program runs.
rm -f "$marker"
expect plot 0 '' -- "$RUN" -m 16M --plot "$work/run.svg" -- "$MT_HEAP" 64 1
if out=$("$PY" -c 'import sys, xml.dom.minidom as m
d = m.parse(sys.argv[1])
texts = [t.firstChild.data for t in d.getElementsByTagName("text") if t.firstChild]
panels = [t for t in ("fault service", "swap read batch", "swap write batch") if t in texts]
lines = d.getElementsByTagName("polyline") + d.getElementsByTagName("path")
print("%d panels (%s), %d lines" % (len(panels), ", ".join(panels), len(lines)))
sys.exit(len(panels) != 3 or len(lines) < 3)' "$work/run.svg" 2>&1); then
	ok plot-svg "$out"
else
	bad plot-svg "$out"
fi
expect plot-nodir 125 'plot .*No such file or directory' -- "$RUN" -m 16M \
	--plot "$work/nodir/x.svg" -- sh -c ": >'$marker'"
[ -e "$marker" ] && bad plot-nodir "the program ran"

# 8. The peak reported is the program's, not that of what the process that
# exec'd upager-run ran before (exec keeps its children's usage): a shell
# that ran a 200 MiB program and then exec'd upager-run on `true`.
if out=$(sh -c "$PY -c 'b = b\"x\" * (200 << 20)' && exec \"\$0\" --stats -m 16M -- true" \
	"$RUN" 2>&1) && peak=$(sed -n 's/.*getrusage) \([0-9.]*\) MiB.*/\1/p' <<<"$out") &&
	[ -n "$peak" ] && awk -v p="$peak" 'BEGIN { exit !(p < 100) }'; then
	ok peak-own "true's peak ${peak} MiB"
else
	bad peak-own "peak '${peak:-none}' MiB after a 200 MiB predecessor: $(tail -1 <<<"$out")"
fi

exit $fail
