#!/usr/bin/env bash
# packaging/udev/60-upager-userfaultfd.rules, applied by hand (no udevd is
# needed): a device node made as the rule says (its GROUP and MODE) is
# bind-mounted over /dev/userfaultfd in a private mount namespace, then an
# unprivileged user runs a upager program (tests/consumer/consumer.c): in
# the rule's group it works, outside it upager_open is refused (EPERM).
# Nothing outside the namespace changes: no user or group is created, the
# group is its number when `userfaultfd` does not exist here.
#   check-udev.sh RULES CONSUMER
set -euo pipefail

rules=$(realpath "$1")
consumer=$(realpath "$2")
fail() {
	echo "check-udev: $*" >&2
	exit 1
}

[ -f "$rules" ] || fail "no rule file $rules"
if command -v udevadm >/dev/null && udevadm verify --help >/dev/null 2>&1; then
	udevadm verify "$rules" || fail "udevadm verify refuses $rules"
fi
rule=$(grep -v '^[[:space:]]*#' "$rules" | grep 'KERNEL=="userfaultfd"') ||
	fail "no rule matches KERNEL==\"userfaultfd\""
group=$(sed -n 's/.*GROUP="\([^"]*\)".*/\1/p' <<<"$rule")
mode=$(sed -n 's/.*MODE="\([0-7]*\)".*/\1/p' <<<"$rule")
[ "$group" = userfaultfd ] || fail "the rule gives the node group '$group', not userfaultfd"
[ -n "$mode" ] || fail "the rule sets no MODE"
[ "$(id -u)" = 0 ] || { echo "check-udev: skipped: needs root (mknod, mount namespace)"; exit 77; }
[ -e /sys/class/misc/userfaultfd/dev ] ||
	{ echo "check-udev: skipped: this kernel has no /dev/userfaultfd"; exit 77; }
command -v setpriv >/dev/null || { echo "check-udev: skipped: no setpriv"; exit 77; }

gid=$(getent group userfaultfd | cut -d: -f3) || gid=64990
IFS=: read -r major minor </sys/class/misc/userfaultfd/dev
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mknod "$tmp/userfaultfd" c "$major" "$minor"
chown "root:$gid" "$tmp/userfaultfd"
chmod "$mode" "$tmp/userfaultfd"

# The user: nobody, with the group or without; UPAGER_UFFD_FORCE_DEV makes
# upager use the node even where the system call would be allowed.
as_user() { # extra groups ("" for none)
	local groups=--clear-groups
	[ -z "$1" ] || groups=--groups=$1
	unshare -m sh -c 'mount --bind "$1" /dev/userfaultfd && shift &&
		exec setpriv --reuid=65534 --regid=65534 "$@"' sh "$tmp/userfaultfd" \
		"$groups" env UPAGER_UFFD_FORCE_DEV=1 UPAGER_LOG=error "$consumer"
}

out=$(as_user "$gid" 2>&1) || fail "a user in the group cannot run upager: $out"
echo "in group $gid: $out"
if out=$(as_user "" 2>&1); then
	fail "a user outside the group ran upager (the node's mode is too open): $out"
fi
grep -q "Operation not permitted" <<<"$out" ||
	fail "outside the group, upager failed otherwise than EPERM: $out"
echo "outside the group: refused, as it should be"
