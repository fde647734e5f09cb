#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cgroup.sh - a memory cap for the kernel's baselines (tools/run-real-programs
# and any script that runs a program under the kernel's own swap), on
# whichever memory cgroup the machine has:
#   systemd  cgroup v2 where systemd runs: `systemd-run --scope` with
#            MemoryMax= (systemd owns the tree; writing into it behind its
#            back is not ours to do)
#   v2       cgroup v2 without systemd: a child of a delegated subtree
#            ($UPAGER_CGROUP_PARENT, a cgroup2 path whose cgroup.controllers
#            has memory), else of the cgroup2 root (root only), with
#            memory.max and memory.swap.max=max
#   v1       the cgroup v1 memory hierarchy: memory.limit_in_bytes
# The order is the one above; the first the machine has wins. In every
# mode swap is not capped: the program may swap out whatever exceeds the
# limit, as the v1 baselines always measured.
#
# As a command:
#   cgroup.sh mode              print the mode, or "none" and why (status 1)
#   cgroup.sh new NAME BYTES    make a capped cgroup; print its handle
#   cgroup.sh exec HANDLE CMD.. run CMD in it (exec: CMD's status)
#   cgroup.sh remove HANDLE     remove it (after its processes ended)
# Sourced, the same as functions cgroup_mode, cgroup_new, cgroup_exec,
# cgroup_remove. For tests, UPAGER_CGROUP2 (a cgroup2 mount),
# UPAGER_CGROUP1_MEMORY (the v1 memory mount) and UPAGER_CGROUP_SYSTEMD
# (1 or 0) replace what is found on the machine.

cgroup_v2_root() {
	if [ -n "${UPAGER_CGROUP2:-}" ]; then
		echo "$UPAGER_CGROUP2"
		return
	fi
	awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts
}

cgroup_v1_memory() {
	if [ -n "${UPAGER_CGROUP1_MEMORY:-}" ]; then
		echo "$UPAGER_CGROUP1_MEMORY"
		return
	fi
	awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ { print $2; exit }' /proc/self/mounts
}

cgroup_has_systemd() {
	case ${UPAGER_CGROUP_SYSTEMD:-} in
	1) return 0 ;;
	0) return 1 ;;
	esac
	[ -d /run/systemd/system ] && command -v systemd-run >/dev/null
}

# The v2 parent new cgroups go under, when memory can be enabled there.
cgroup_v2_parent() {
	local root parent
	root=$(cgroup_v2_root)
	[ -n "$root" ] && grep -qw memory "$root/cgroup.controllers" 2>/dev/null || return 1
	if [ -n "${UPAGER_CGROUP_PARENT:-}" ]; then
		# A path in the file system, or one relative to the cgroup2 root.
		parent=$UPAGER_CGROUP_PARENT
		[ -d "$parent" ] && [ "${parent#/}" != "$parent" ] || parent=$root/${parent#/}
	else
		[ "$(id -u)" = 0 ] || return 1
		parent=$root
	fi
	grep -qw memory "$parent/cgroup.controllers" 2>/dev/null || return 1
	echo "$parent"
}

cgroup_mode() {
	local mem
	if cgroup_has_systemd && [ -n "$(cgroup_v2_root)" ] &&
		grep -qw memory "$(cgroup_v2_root)/cgroup.controllers" 2>/dev/null; then
		echo systemd
	elif cgroup_v2_parent >/dev/null; then
		echo v2
	elif mem=$(cgroup_v1_memory) && [ -n "$mem" ] && [ -e "$mem/memory.limit_in_bytes" ] &&
		[ "$(id -u)" = 0 ]; then
		echo v1
	else
		echo none
		echo "cgroup.sh: no memory cgroup to use: no cgroup v1 memory hierarchy (as root)," \
			"no cgroup v2 with the memory controller under systemd, in" \
			"\$UPAGER_CGROUP_PARENT or at its root (as root)" >&2
		return 1
	fi
}

# cgroup_new NAME BYTES: print a handle (v1:PATH, v2:PATH or systemd:BYTES).
cgroup_new() {
	local name=$1 bytes=$2 mode parent path
	case $bytes in '' | *[!0-9]*) echo "cgroup.sh: bad size '$bytes'" >&2; return 1 ;; esac
	mode=$(cgroup_mode) || return 1
	case $mode in
	systemd)
		echo "systemd:$bytes"
		;;
	v2)
		parent=$(cgroup_v2_parent)
		if ! grep -qw memory "$parent/cgroup.subtree_control" 2>/dev/null; then
			echo +memory >"$parent/cgroup.subtree_control" || {
				echo "cgroup.sh: cannot enable memory in $parent/cgroup.subtree_control" >&2
				return 1
			}
		fi
		path=$parent/$name
		mkdir "$path" || return 1
		if ! { echo "$bytes" >"$path/memory.max" && echo max >"$path/memory.swap.max"; }; then
			rmdir "$path"
			return 1
		fi
		echo "v2:$path"
		;;
	v1)
		path=$(cgroup_v1_memory)/$name
		mkdir "$path" || return 1
		if ! echo "$bytes" >"$path/memory.limit_in_bytes"; then
			rmdir "$path"
			return 1
		fi
		echo "v1:$path"
		;;
	esac
}

# cgroup_exec HANDLE CMD...: replaces the shell (call it in a subshell).
cgroup_exec() {
	local handle=$1
	shift
	case $handle in
	systemd:*)
		exec systemd-run --scope --quiet --collect -p "MemoryMax=${handle#systemd:}" \
			-p MemorySwapMax=infinity -- "$@"
		;;
	v1:* | v2:*)
		echo $$ >"${handle#v?:}/cgroup.procs" || return 1
		exec "$@"
		;;
	*)
		echo "cgroup.sh: bad handle '$handle'" >&2
		return 1
		;;
	esac
}

# cgroup_remove HANDLE: a cgroup's last process may take a moment to leave.
cgroup_remove() {
	local path i
	case $1 in
	systemd:*) return 0 ;; # --collect: the scope goes with its process
	v1:* | v2:*) path=${1#v?:} ;;
	*) echo "cgroup.sh: bad handle '$1'" >&2; return 1 ;;
	esac
	for i in $(seq 50); do
		rmdir "$path" 2>/dev/null && return 0
		[ -d "$path" ] || return 0
		sleep 0.1
	done
	echo "cgroup.sh: cannot remove $path" >&2
	return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -eu
	cmd=${1:-}
	shift || true
	case $cmd in
	mode) cgroup_mode ;;
	new) [ $# = 2 ] || { echo "usage: cgroup.sh new NAME BYTES" >&2; exit 2; }; cgroup_new "$@" ;;
	exec) [ $# -ge 2 ] || { echo "usage: cgroup.sh exec HANDLE CMD..." >&2; exit 2; }; cgroup_exec "$@" ;;
	remove) [ $# = 1 ] || { echo "usage: cgroup.sh remove HANDLE" >&2; exit 2; }; cgroup_remove "$@" ;;
	*) echo "usage: cgroup.sh mode | new NAME BYTES | exec HANDLE CMD... | remove HANDLE" >&2; exit 2 ;;
	esac
fi
