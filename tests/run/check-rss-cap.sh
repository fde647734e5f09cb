#!/bin/bash
# check-rss-cap.sh - --max-resident caps the process's resident set, as a
# memory cgroup's limit does, not only the pages upager holds: a program
# with a large mapping upager does not page (shared anonymous memory)
# must peak (VmHWM) within the cap + 5 % and read back every byte; with
# --max-paged (upager's pages alone) the unpaged part comes on top.
#
# usage: check-rss-cap.sh UPAGER_RUN UNPAGED_HOG
set -uo pipefail
RUN=$1 PROG=$2
CAP_MIB=128 UNPAGED_MIB=64 PAGED_MIB=256
fail=0
check() { # name, max peak KiB, upager-run options...
	local name=$1 max=$2 out wrong peak
	shift 2
	out=$(timeout -k 5 240 "$RUN" "$@" -- "$PROG" $UNPAGED_MIB $PAGED_MIB)
	rc=$?
	read -r _ wrong _ peak <<<"$out"
	if [ $rc -ne 0 ] || [ "${wrong:-x}" != 0 ] || [ -z "${peak:-}" ] || [ "$peak" -gt "$max" ]; then
		echo "FAIL $name: exit $rc, '$out' (peak at most $max KiB)"
		fail=1
	else
		echo "ok   $name: $out (at most $max KiB)"
	fi
}
# 5 % over the cap at most.
check max-resident $((CAP_MIB * 1024 * 105 / 100)) -m ${CAP_MIB}M
# Today's meaning kept: the budget holds upager's pages, the shared
# mapping on top (so above the cap: the run above is not passing by luck).
check max-paged $(((CAP_MIB + UNPAGED_MIB + 16) * 1024)) --max-paged ${CAP_MIB}M
out=$("$RUN" --max-paged 128M -m 128M -- true 2>&1)
if [ $? -ne 125 ] || ! grep -q "give one" <<<"$out"; then
	echo "FAIL both --max-paged and -m: '$out'"
	fail=1
fi
exit $fail
