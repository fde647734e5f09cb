#!/bin/bash
# check-fds.sh - programs that close, replace and list descriptors, under
# upager-run --max-paged 16M (so most of their memory is evicted; upager's
# pages alone counted, as the programs' bash and libraries are most of a
# 16 MiB resident set): upager's own
# descriptors must never be confused with theirs (lib/os/fdreg.h,
# tools/run/preload-fd.c). Each check states what it saw.
#
# usage: check-fds.sh UPAGER_RUN FD_USER
set -uo pipefail

RUN=$(realpath "$1") FD_USER=$(realpath "$2")
work=$(mktemp -d /var/tmp/upager-check-fds.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail=0

bad() {
	echo "FAIL $1"; shift
	for f in "$@"; do sed 's/^/  /' "$f" | tail -15; done
	fail=1
}

# 1-2. bash holds a file at fd 5 while a command substitution takes 30 MB:
# the file stays byte-identical (upager used to punch holes in it as its
# swap store, or, from a subshell's fork, write swapped memory into it).
head -c $((64 << 20)) /dev/zero | tr '\0' U >five.orig
for variant in plain subshell; do
	cp five.orig five
	if [ $variant = plain ]; then
		script='exec 5<>five; x=$(head -c 30000000 /dev/zero | tr "\0" a); echo ${#x}'
	else
		script='exec 5<>five; ( x=$(head -c 30000000 /dev/zero | tr "\0" a); echo ${#x} )'
	fi
	out=$("$RUN" --max-paged 16M -- bash -c "$script" 2>"$variant.err")
	rc=$?
	if [ $rc -ne 0 ] || [ "$out" != 30000000 ]; then
		bad "exec-5-$variant: exit $rc, output '$out'" "$variant.err"
	elif ! cmp -s five five.orig; then
		bad "exec-5-$variant: five changed: $(cmp five five.orig 2>&1 | head -1); $(stat -c %s five) bytes, $(du -k five | cut -f1) KiB on disk" "$variant.err"
	else
		echo "ok   exec-5-$variant: five byte-identical ($(du -k five | cut -f1) KiB on disk)"
	fi
done

# 3. exec 6>file then a memory-heavy command: it works, the file stays empty.
rm -f six
out=$("$RUN" --max-paged 16M -- bash -c 'exec 6>six; x=$(head -c 30000000 /dev/zero | tr "\0" a); echo ${#x}' 2>six.err)
rc=$?
if [ $rc -ne 0 ] || [ "$out" != 30000000 ] || [ "$(stat -c %s six)" != 0 ]; then
	bad "exec-6: exit $rc, output '$out', six has $(stat -c %s six) bytes" six.err
else
	echo "ok   exec-6: works, six untouched"
fi

# 4-7. close_range(3, ~0U) (as a call and through syscall()), closefrom(3), a pipe made after closing
# everything, and close/dup/dup2/dup3/fcntl of upager's descriptors
# (EBADF each; the program's own work): every page reads back right, no
# hang.
for mode in close_range closefrom syscall pipe refuse; do
	timeout 120 "$RUN" --max-paged 16M -- "$FD_USER" $mode >$mode.out 2>$mode.err
	rc=$?
	if [ $rc -ne 0 ] || ! grep -q '^bad pages: 0 of' $mode.out; then
		bad "$mode: exit $rc" $mode.out $mode.err
	else
		echo "ok   $mode: $(cat $mode.out)"
	fi
done

# 8. A child spawned with stdin closed finds fd 0 closed, as natively.
timeout 60 "$RUN" --max-paged 16M -- "$FD_USER" spawn-close0 >spawn.out 2>spawn.err
rc=$?
if [ $rc -ne 0 ]; then
	bad "spawn-close0: exit $rc" spawn.out spawn.err
else
	echo "ok   spawn-close0: $(cat spawn.out)"
fi

# 9. What a program listing its descriptors sees: upager's are all at or
# above the base (near the top of the soft RLIMIT_NOFILE, at most 4096)
# and close-on-exec; the program's own are the same as natively.
limit=$(ulimit -Sn)
[ "$limit" = unlimited ] || [ "$limit" -gt 4096 ] && limit=4096
if [ "$limit" -gt 256 ]; then base=$((limit - 128)); else base=$((limit / 2)); fi
"$FD_USER" list | sort -n >native.list
"$RUN" --max-paged 16M -- "$FD_USER" list 2>list.err | sort -n >upager.list
extra=$(comm -13 <(cut -d' ' -f1 native.list | sort) <(cut -d' ' -f1 upager.list | sort) | sort -n)
low=$(for fd in $extra; do [ "$fd" -lt $base ] && echo "$fd"; done)
inherit=$(for fd in $extra; do grep "^$fd 0 " upager.list; done)
missing=$(comm -23 <(cut -d' ' -f1 native.list | sort) <(cut -d' ' -f1 upager.list | sort))
n=$(echo $extra | wc -w)
if [ "$n" -eq 0 ] || [ -n "$low" ] || [ -n "$inherit" ] || [ -n "$missing" ]; then
	bad "list: $n of upager's descriptors; below $base: '$low'; not close-on-exec: '$inherit'; native ones missing: '$missing'" upager.list list.err
else
	echo "ok   list: $n descriptors of upager's, all >= $base and close-on-exec ($(echo $extra | tr ' ' ,))"
fi

# 10. A raw close_range, past the shim, closes upager's descriptors anyway:
# the process must end loudly with upager's message, never read zeros.
timeout 120 "$RUN" --max-paged 16M -- "$FD_USER" raw >raw.out 2>raw.err
rc=$?
if [ $rc -eq 0 ] || grep -q '^bad pages' raw.out ||
   ! grep -q "closed or replaced behind upager's back" raw.err; then
	bad "raw close_range: exit $rc" raw.out raw.err
else
	echo "ok   raw close_range: exit $rc, $(grep -m1 "behind upager's back" raw.err)"
fi

exit $fail
