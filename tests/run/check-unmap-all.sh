#!/bin/bash
# check-unmap-all.sh - a program that unmaps its whole address space, as
# stress-ng's vm-segv does. munmap and madvise calls the kernel refuses
# (a length past the top of user space, or one that wraps) must change
# nothing (under upager they unmapped or discarded its memory first); a
# child that unmaps everything must die of SIGSEGV in its own thread,
# which its tracer sees stopped (one of upager's threads took it first).
#
# usage: check-unmap-all.sh UPAGER_RUN UNMAP_ALL
set -uo pipefail
RUN=$1 PROG=$2
fail=0
for mode in refused plain traced; do
	native=$("$PROG" "$mode" 2>&1)
	nrc=$?
	out=$(timeout -k 5 120 "$RUN" -m 16M -- "$PROG" "$mode" 2>/dev/null)
	rc=$?
	if [ $rc -ne $nrc ] || [ "$out" != "$native" ]; then
		echo "FAIL $mode: exit $rc (natively $nrc): '$out' (natively '$native')"
		fail=1
	else
		echo "ok   $mode: $out"
	fi
done
exit $fail
