#!/bin/bash
# check-thread-exit.sh - programs that end by their last thread ending
# (pthread_exit of the main thread, a worker returning, a child forked
# from a thread), and CPython's fork-from-a-thread case: each must end
# under upager-run as natively, with the same output (it hung: upager's
# own threads kept the process alive).
#
# usage: check-thread-exit.sh UPAGER_RUN THREAD_EXIT
set -uo pipefail
RUN=$1 PROG=$2
PY=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d /var/tmp/upager-check-thread-exit.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

check() {
	local name=$1
	shift
	"$@" >"$work/$name.native" 2>&1
	local nrc=$?
	timeout -k 5 60 "$RUN" -m 64M -- "$@" >"$work/$name.out" 2>"$work/$name.err"
	local rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		echo "FAIL $name: no end after 60 s under upager-run (natively: exit $nrc)"; fail=1
	elif [ $rc -ne $nrc ] || ! cmp -s <(sort "$work/$name.native") <(sort "$work/$name.out"); then
		echo "FAIL $name: exit $rc (natively $nrc), output:"; diff <(sort "$work/$name.native") <(sort "$work/$name.out") | head
		tail -5 "$work/$name.err"; fail=1
	else
		echo "ok   $name: exit $rc, $(tr '\n' ' ' <"$work/$name.out")"
	fi
}

for mode in alone worker fork; do
	check "$mode" "$PROG" "$mode"
done
if [ -x "$PY" ]; then
	cat >"$work/fork-from-thread.py" <<'PYEOF'
import os, threading
def child_body():
    main = threading.main_thread()
    def joiner():
        main.join()
        print("end of thread", flush=True)
    threading.Thread(target=joiner).start()
    print("end of main", flush=True)
def worker():
    pid = os.fork()
    if pid == 0:
        child_body()
        return
    print("child status", os.waitpid(pid, 0)[1], flush=True)
w = threading.Thread(target=worker)
w.start()
w.join()
PYEOF
	check python-fork-from-thread "$PY" "$work/fork-from-thread.py"
fi
exit $fail
