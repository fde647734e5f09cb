#!/bin/bash
# check-forks.sh - children made by every means see exactly their
# parent's memory under upager-run, evicted pages included: fork(),
# syscall(SYS_fork), clone() and syscall(SYS_clone3) without CLONE_VM,
# glibc's _Fork() (none of which but fork() runs the atfork handlers),
# and a fork from a thread other than the main one whose child starts a
# thread of its own. tests/run/forks.c fills 64 MiB under a 16 MiB cap,
# forks, and both processes verify every byte. A fork by a bare syscall
# instruction (raw) can only be made loud: its child may die of SIGSEGV
# at its first touch of paged memory, but never reads a wrong byte.
#
# usage: check-forks.sh UPAGER_RUN FORKS
set -uo pipefail

RUN=$1 FORKS=$2
work=$(mktemp -d /var/tmp/upager-check-forks.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

for mode in fork syscall clone clone3 _Fork thread raw; do
	json=$work/$mode.json
	# A child that waits in a fault nobody serves hangs: the timeout
	# turns that into a failure (-k: the child too, if it ignores TERM).
	timeout -k 5 60 "$RUN" --max-resident 16M --stats-json "$json" -- "$FORKS" "$mode" 64 \
		>"$work/$mode.out" 2>"$work/$mode.err"
	rc=$?
	if [ $rc -ne 0 ]; then
		[ $rc -eq 124 ] && why="timed out (a hang)" || why="exit status $rc"
		echo "FAIL $mode: $why"; sed 's/^/  /' "$work/$mode.err" | head -20
		fail=1; continue
	fi
	writebacks=$(grep -h launcher "$json" | tail -1 | sed -n 's/.*"writebacks": \([0-9]*\).*/\1/p')
	if [ -z "$writebacks" ] || [ "$writebacks" -eq 0 ]; then
		echo "FAIL $mode: nothing was evicted (writebacks '${writebacks}'): the check proves nothing"
		fail=1; continue
	fi
	echo "ok   $mode: $(tr '\n' ' ' <"$work/$mode.out")(writebacks $writebacks)"
done
exit $fail
