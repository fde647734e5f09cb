#!/usr/bin/env bash
# tools/lib/cgroup.sh, the memory cap of the kernel baselines: on this
# machine's own memory cgroup for real (a process run in it is in it, under
# the limit asked for), then each mode against a stand-in (a directory laid
# out as a cgroup2 mount, a systemd-run that prints what it was asked):
# cgroup v2 at the root and in a delegated subtree, systemd, and none.
#   check-cgroup.sh CGROUP_SH
set -euo pipefail

helper=$(realpath "$1")
fail() {
	echo "check-cgroup: $*" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# This machine, for real.
if mode=$("$helper" mode 2>"$tmp/why"); then
	h=$("$helper" new "upager-check-$$" 67108864) || fail "$mode: new failed"
	in=$("$helper" exec "$h" cat /proc/self/cgroup) || fail "$mode: exec failed"
	grep -q "upager-check-$$" <<<"$in" || fail "$mode: the process is not in the cgroup: $in"
	case $mode in
	v1) limit=$(cat "${h#v1:}/memory.limit_in_bytes") ;;
	v2) limit=$(cat "${h#v2:}/memory.max") ;;
	*) limit=67108864 ;;
	esac
	[ "$limit" = 67108864 ] || fail "$mode: limit $limit, not 67108864"
	"$helper" remove "$h" || fail "$mode: remove failed"
	[ ! -d "${h#v?:}" ] || fail "$mode: ${h#v?:} is still there"
	echo "this machine: $mode: a 64 MiB cgroup made, used, removed"
else
	echo "this machine: $(cat "$tmp/why")"
fi

# A cgroup2 mount with the memory controller and no systemd.
fake=$tmp/cg2
mkdir -p "$fake/deleg"
echo "cpu io memory pids" >"$fake/cgroup.controllers"
: >"$fake/cgroup.subtree_control"
echo "memory pids" >"$fake/deleg/cgroup.controllers"
echo "memory" >"$fake/deleg/cgroup.subtree_control"
export UPAGER_CGROUP2=$fake UPAGER_CGROUP1_MEMORY=$tmp/none UPAGER_CGROUP_SYSTEMD=0
[ "$("$helper" mode)" = v2 ] || fail "a cgroup2 mount with memory is not mode v2"
h=$("$helper" new cap 1048576)
[ "$h" = "v2:$fake/cap" ] || fail "v2: handle $h"
[ "$(cat "$fake/cap/memory.max")" = 1048576 ] || fail "v2: memory.max not written"
[ "$(cat "$fake/cap/memory.swap.max")" = max ] || fail "v2: memory.swap.max not max"
grep -q '+memory' "$fake/cgroup.subtree_control" || fail "v2: memory not enabled for children"
"$helper" exec "$h" true
[ -s "$fake/cap/cgroup.procs" ] || fail "v2: exec wrote no pid to cgroup.procs"
echo "v2 at the root: memory.max, memory.swap.max=max, +memory, cgroup.procs"

h=$(UPAGER_CGROUP_PARENT=/deleg "$helper" new cap2 2097152)
[ "$h" = "v2:$fake/deleg/cap2" ] || fail "v2 delegated: handle $h"
[ "$(cat "$fake/deleg/cap2/memory.max")" = 2097152 ] || fail "v2 delegated: memory.max"
[ "$(cat "$fake/deleg/cgroup.subtree_control")" = memory ] ||
	fail "v2 delegated: subtree_control rewritten though memory was on"
echo "cpu pids" >"$fake/deleg/cgroup.controllers"
if UPAGER_CGROUP_PARENT=/deleg "$helper" mode >/dev/null 2>&1; then
	fail "a delegated subtree without memory is used"
fi
echo "v2 delegated: used when it has memory, refused without"

# systemd: a stand-in systemd-run prints its arguments.
mkdir "$tmp/bin"
printf '#!/bin/sh\necho "$@"\n' >"$tmp/bin/systemd-run"
chmod +x "$tmp/bin/systemd-run"
export UPAGER_CGROUP_SYSTEMD=1
[ "$("$helper" mode)" = systemd ] || fail "systemd with cgroup2 memory is not mode systemd"
h=$("$helper" new cap3 4194304)
out=$(PATH=$tmp/bin:$PATH "$helper" exec "$h" prog arg)
[ "$out" = "--scope --quiet --collect -p MemoryMax=4194304 -p MemorySwapMax=infinity -- prog arg" ] ||
	fail "systemd: systemd-run $out"
echo "systemd: systemd-run --scope -p MemoryMax="

# Nothing usable: a reason and status 1.
export UPAGER_CGROUP2=$tmp/none UPAGER_CGROUP_SYSTEMD=0
if "$helper" mode >/dev/null 2>"$tmp/why"; then
	fail "mode succeeds with no memory cgroup"
fi
grep -q "no memory cgroup" "$tmp/why" || fail "mode none says no reason"
if "$helper" new x 1048576 >/dev/null 2>&1; then
	fail "new succeeds with no memory cgroup"
fi
echo "none: refused with the reason"
