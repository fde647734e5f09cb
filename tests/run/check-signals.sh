#!/bin/bash
# check-signals.sh - a signal storm under upager-run: a 200 us interval
# timer whose handler allocates and reads a large heap buffer, while the
# main thread maps and unmaps 1 MiB 3,000 times (tests/run/signal-storm.c).
# The handler often interrupts the main thread inside an interposed mmap
# or munmap; it must run once the call returns, never wait for the
# pager's lock the interrupted call holds. Natively the run takes ~1.5 s;
# a deadlock is caught by the timeout.
#
# usage: check-signals.sh UPAGER_RUN SIGNAL_STORM
set -uo pipefail

RUN=$1 STORM=$2
work=$(mktemp -d /var/tmp/upager-check-signals.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! timeout 120 "$STORM" >"$work/native.out" 2>"$work/native.err"; then
	echo "FAIL native run"; cat "$work/native.err"; exit 1
fi
timeout 120 "$RUN" --max-resident 16M --stats -- "$STORM" >"$work/paged.out" 2>"$work/paged.err"
rc=$?
if [ $rc -eq 124 ]; then
	echo "FAIL storm: no end after 120 s under upager-run (deadlock)"; tail -5 "$work/paged.err"; exit 1
fi
if [ $rc -ne 0 ]; then
	echo "FAIL storm: exit status $rc under upager-run"; tail -20 "$work/paged.err"; exit 1
fi
if ! cmp -s "$work/native.out" "$work/paged.out"; then
	echo "FAIL storm: output differs from the native run"; diff "$work/native.out" "$work/paged.out"; exit 1
fi
if ! grep -q "writebacks\|written [1-9]" "$work/paged.err"; then
	echo "FAIL storm: nothing was evicted under a 16 MiB cap"; cat "$work/paged.err"; exit 1
fi
echo "ok   storm: $(cat "$work/paged.out"); $(grep -m1 'timer signals' "$work/paged.err")"
echo "     $(grep -m1 'evictions' "$work/paged.err")"
