#!/bin/bash
# check-run.sh - unmodified programs under upager-run, scaled down for the
# test suite (tools/run-real-programs runs them at full size, beside the
# kernel's swap). Each check compares the output with a native run and
# asserts from outside that memory stayed under the cap (getrusage of the
# child, through upager-run's JSON) and from upager's statistics that
# pages really were evicted and read back.
#
# usage: check-run.sh UPAGER_RUN MT_HEAP SEGV_HANDLER
set -euo pipefail

RUN=$1 MT_HEAP=$2 SEGV=$3
# Debian's interpreter, not a wrapper script some PATH may put first.
PY=${PYTHON:-/usr/bin/python3}
CAP_MIB=64
SLACK_MIB=40   # the program's own unpaged memory: binary, libraries, stacks
work=$(mktemp -d /var/tmp/upager-check-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

# json_field FILE KEY LINE_MATCH: a number from the JSON line holding LINE_MATCH
json_field() {
	grep -h "$3" "$1" | tail -1 | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p"
}

# check NAME EXPECT_FILE -- COMMAND...: run COMMAND under upager-run, compare
# stdout with EXPECT_FILE, check the cap and that paging happened.
check() {
	local name=$1 expect=$2 json=$work/$1.json
	shift 3
	rm -f "$json"
	if ! "$RUN" --max-resident ${CAP_MIB}M --stats-json "$json" -- "$@" >"$work/$name.out" 2>"$work/$name.err"; then
		echo "FAIL $name: exit status $? under upager-run"; sed 's/^/  /' "$work/$name.err" | tail -20
		fail=1; return
	fi
	if ! cmp -s "$expect" "$work/$name.out"; then
		echo "FAIL $name: output differs from the native run"; diff "$expect" "$work/$name.out" | head; fail=1; return
	fi
	local rss writebacks swapins
	rss=$(json_field "$json" ru_maxrss_kib launcher)
	writebacks=$(json_field "$json" writebacks launcher)
	swapins=$(json_field "$json" swapins launcher)
	if [ -z "$rss" ] || [ -z "$writebacks" ]; then
		echo "FAIL $name: no statistics"; cat "$json" 2>/dev/null; fail=1; return
	fi
	if [ "$rss" -gt $(( (CAP_MIB + SLACK_MIB) * 1024 )) ]; then
		echo "FAIL $name: peak RSS $((rss / 1024)) MiB over the cap $CAP_MIB MiB + $SLACK_MIB MiB slack"; fail=1; return
	fi
	if [ "$writebacks" -eq 0 ] || [ "$swapins" -eq 0 ]; then
		echo "FAIL $name: no paging (writebacks $writebacks, swap-ins $swapins)"; fail=1; return
	fi
	echo "ok   $name: output identical, peak RSS $((rss / 1024)) MiB (cap $CAP_MIB), writebacks $writebacks, swap-ins $swapins"
}

# 1. Our multi-threaded malloc program: 256 MiB across 4 threads.
"$MT_HEAP" 256 4 >"$work/mt.expect"
check mt-heap "$work/mt.expect" -- "$MT_HEAP" 256 4

# 2. Python: a list of 3 million integers, summed (the full-size run: 25 million).
py='xs = list(range(3_000_000)); print(sum(xs), len(xs))'
"$PY" -c "$py" >"$work/py.expect"
check python "$work/py.expect" -- "$PY" -c "$py"

# 3. sort(1) of 1.5 million random lines with a 200 MiB buffer.
"$PY" -c 'import random; r = random.Random(7); print("\n".join("%016x %d" % (r.getrandbits(64), i) for i in range(1_500_000)))' >"$work/lines"
LC_ALL=C sort -S 200M "$work/lines" >"$work/sort.expect"
check sort "$work/sort.expect" -- env LC_ALL=C sort -S 200M "$work/lines"

# 4. A shell pipeline whose stages fork and exec, one of them paged heavily.
pipeline="$PY"' -c "xs = list(range(3_000_000)); print(sum(xs))" | tr 0-9 a-j | (read x; echo "$x"; seq 1 200000 | sort -rn | head -3)'
bash -c "$pipeline" >"$work/pipe.expect"
check pipeline "$work/pipe.expect" -- bash -c "$pipeline"

# 5. Python forking children (subprocess) after filling its heap.
pyfork='import subprocess, os, sys
xs = list(range(2_000_000))
out = subprocess.run([sys.executable, "-c", "print(sum(range(1000)))"], capture_output=True, text=True).stdout.strip()
pid = os.fork()
if pid == 0:
    os._exit(0 if sum(xs) == 1999999000000 else 3)
_, st = os.waitpid(pid, 0)
print(sum(xs), out, os.waitstatus_to_exitcode(st))'
"$PY" -c "$pyfork" >"$work/pyfork.expect"
check python-fork "$work/pyfork.expect" -- "$PY" -c "$pyfork"

# 6. A program with its own SIGSEGV handler.
"$SEGV" 192 >"$work/segv.expect"
check segv-handler "$work/segv.expect" -- "$SEGV" 192

# 7. SIGUSR1 prints the summary while the program runs (--stats).
usr1='import os, signal, time
xs = list(range(1_000_000))
os.kill(os.getpid(), signal.SIGUSR1)
time.sleep(0.3)
print(sum(xs))'
if ! "$RUN" --max-resident 64M --stats -- "$PY" -c "$usr1" >"$work/usr1.out" 2>"$work/usr1.err" ||
   ! grep -q "on SIGUSR1: peak resident" "$work/usr1.err" || [ "$(cat "$work/usr1.out")" != 499999500000 ]; then
	echo "FAIL sigusr1: no summary on SIGUSR1"; cat "$work/usr1.err"; fail=1
else
	echo "ok   sigusr1: $(grep -m1 "on SIGUSR1" "$work/usr1.err")"
fi

# 8. Failure is loud: an unwritable swap path is refused, unless --fallback.
if "$RUN" --max-resident 64M --swap /nonexistent/swap -- true 2>"$work/refuse.err"; then
	echo "FAIL refuse: ran with an unwritable swap path"; fail=1
elif ! grep -q "refusing" "$work/refuse.err"; then
	echo "FAIL refuse: no clear message"; cat "$work/refuse.err"; fail=1
else
	echo "ok   refuse: $(head -1 "$work/refuse.err")"
fi
if ! out=$("$RUN" --max-resident 64M --swap /nonexistent/swap --fallback -- echo ran 2>"$work/fallback.err") ||
   [ "$out" != ran ] || ! grep -q UNPAGED "$work/fallback.err"; then
	echo "FAIL fallback: expected an unpaged run with a warning"; cat "$work/fallback.err"; fail=1
else
	echo "ok   fallback: ran unpaged, said so"
fi
exit $fail
