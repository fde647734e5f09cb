#!/bin/bash
# check-advice.sh - fork advice, a program's own userfaultfd and the heap
# (brk) as unmodified programs use them, natively and under upager-run
# with a cap their memory does not fit in. Each case must give under
# upager what it gives natively; a hang is a failure (timeout).
#
# usage: check-advice.sh UPAGER_RUN ADVICE
set -uo pipefail

RUN=$1 ADVICE=$2
CAP=16M
work=$(mktemp -d /var/tmp/upager-check-advice.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

# check NAME ARGS...: the helper's case natively, then under upager-run.
check() {
	local name=$1 st
	shift
	timeout 60 "$ADVICE" "$@" >"$work/native.out" 2>&1
	st=$?
	if [ $st -eq 77 ]; then
		echo "skip $name: $(cat "$work/native.out")"; return
	elif [ $st -ne 0 ]; then
		echo "FAIL $name: fails natively"; sed 's/^/  /' "$work/native.out" | tail -5; fail=1; return
	fi
	timeout 60 "$RUN" --max-resident $CAP -- "$ADVICE" "$@" >"$work/$name.out" 2>"$work/$name.err"
	st=$?
	if [ $st -ne 0 ]; then
		[ $st -eq 124 ] && echo "FAIL $name: hung (killed after 60 s)" || echo "FAIL $name: exit status $st under upager-run"
		sed 's/^/  /' "$work/$name.err" | tail -5; fail=1; return
	fi
	echo "ok   $name"
}

check wipeonfork-evicted wipe
check dontfork-mremap dontfork-move
check dontfork-mremap-grow dontfork-grow
for a in dontfork dofork wipeonfork keeponfork; do
	check "split-$a" split $a
done
check uffd-own uffd

# A fork after DONTFORK on 2 MiB: nothing to say about it.
check dontfork-fork dontfork-fork
if [ -s "$work/dontfork-fork.err" ]; then
	echo "FAIL dontfork-fork: $(wc -l <"$work/dontfork-fork.err") lines on stderr, e.g.:"
	head -3 "$work/dontfork-fork.err" | sed 's/^/  /'; fail=1
fi

# stress-ng's brk stressor: each child grows and shrinks its heap. It
# passes when stress-ng says so, no stressor child died of a signal, and
# it did work (bogo ops > 0).
if command -v stress-ng >/dev/null; then
	out=$work/brk.out
	timeout 120 "$RUN" --max-resident 64M -- stress-ng --brk 1 --timeout 3s --verify -v \
		--metrics-brief >"$out" 2>&1
	st=$?
	ops=$(sed -n 's/.*brk \+\([0-9]\+\) .*/\1/p' "$out" | tail -1)
	if [ $st -ne 0 ] || grep -q -i "child died\|killed by\|terminated by signal" "$out" || [ "${ops:-0}" -eq 0 ]; then
		echo "FAIL stress-ng-brk: status $st, bogo ops ${ops:-none}"; grep -v "^stress-ng: debug" "$out" | tail -8 | sed 's/^/  /'; fail=1
	else
		echo "ok   stress-ng-brk: $ops bogo ops"
	fi
else
	echo "FAIL stress-ng-brk: stress-ng is not installed (tools/install-deps)"; fail=1
fi
exit $fail
