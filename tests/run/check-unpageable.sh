#!/bin/bash
# check-unpageable.sh - programs upager cannot page must not run silently
# unpaged under upager-run: a static binary and a set-user-ID binary of
# another user (LD_PRELOAD never reaches them) are refused with the
# reason, or run with --fallback and a loud line; locked memory (mlock,
# mlockall) is locked by upager within the cap, and a lock beyond what
# the budget allows fails with ENOMEM (mlock) or EAGAIN (a mapping under
# mlockall(MCL_FUTURE)), never SIGBUS, never an uncapped run.
#
# usage: check-unpageable.sh UPAGER_RUN MLOCK_PROG STATIC_PROG
set -uo pipefail

RUN=$1 MLOCK=$2 STATIC=$(realpath "$3")
CAP_MIB=16
SLACK_MIB=24   # the program's own unpaged memory: binary, libraries, stacks
work=$(mktemp -d /var/tmp/upager-check-unpageable.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
fail=0

# run NAME ARGS...: under upager-run with the cap; stdout, stderr and the
# peak RSS (KiB, the kernel's, through upager-run's JSON) in $work/NAME.*
run() {
	local name=$1
	shift
	timeout 120 "$RUN" --max-resident ${CAP_MIB}M --stats-json "$work/$name.json" -- "$@" \
		>"$work/$name.out" 2>"$work/$name.err"
	echo $? >"$work/$name.rc"
	grep -h launcher "$work/$name.json" 2>/dev/null | sed -n 's/.*"ru_maxrss_kib": \([0-9]*\).*/\1/p' >"$work/$name.rss"
}

bad() {
	echo "FAIL $1"; shift
	for f in "$@"; do sed 's/^/  /' "$f" | tail -15; done
	fail=1
}

within_cap() {
	local rss
	rss=$(cat "$work/$1.rss")
	[ -n "$rss" ] && [ "$rss" -le $(( (CAP_MIB + SLACK_MIB) * 1024 )) ]
}

# 1. mlock of more than the budget: ENOMEM, as beyond RLIMIT_MEMLOCK.
run mlock-big "$MLOCK" mlock 32
if [ "$(cat "$work/mlock-big.rc")" != 0 ] || ! grep -q "mlock 32 MiB: Cannot allocate memory" "$work/mlock-big.out" ||
   ! grep -q "after the failed mlock: 0 bad bytes, the other 0" "$work/mlock-big.out" ||
   ! grep -q "would be locked" "$work/mlock-big.err" || ! within_cap mlock-big; then
	bad "mlock-big: expected ENOMEM from mlock of 32 MiB under a $CAP_MIB MiB cap (status $(cat "$work/mlock-big.rc"))" \
		"$work/mlock-big.out" "$work/mlock-big.err"
else
	echo "ok   mlock-big: $(tr '\n' ' ' <"$work/mlock-big.out")$(grep -m1 'would be locked' "$work/mlock-big.err")"
fi

# 2. mlock within the budget: resident from the call on, and it stays
# resident and intact while 48 MiB more pages through the rest.
run mlock-small "$MLOCK" mlock 4
if [ "$(cat "$work/mlock-small.rc")" != 0 ] ||
   ! grep -q "mlock 4 MiB: ok, resident 1024 of 1024 pages" "$work/mlock-small.out" ||
   ! grep -q "locked range resident 1024 of 1024 pages, 0 bad bytes; the other 0 bad bytes" "$work/mlock-small.out" ||
   ! within_cap mlock-small; then
	bad "mlock-small: the locked 4 MiB must stay resident and intact within the cap (peak $(cat "$work/mlock-small.rss") KiB)" \
		"$work/mlock-small.out" "$work/mlock-small.err"
else
	echo "ok   mlock-small: $(tail -1 "$work/mlock-small.out"); peak $(( $(cat "$work/mlock-small.rss") / 1024 )) MiB"
fi

# 3. mlockall(MCL_CURRENT | MCL_FUTURE), then 64 MiB mapped: locked
# within the cap (the mapping refused with EAGAIN and the reason) or
# mlockall refused with the reason; never filled past the cap.
run mlockall-big "$MLOCK" mlockall 64
if [ "$(cat "$work/mlockall-big.rc")" != 0 ] || ! within_cap mlockall-big ||
   ! { grep -q "mlockall: Cannot allocate memory" "$work/mlockall-big.out" ||
       grep -q "mmap 64 MiB: Resource temporarily unavailable" "$work/mlockall-big.out"; } ||
   ! grep -q "mlockall\|MCL_FUTURE" "$work/mlockall-big.err"; then
	bad "mlockall-big: expected a refusal with the reason within the cap (peak $(cat "$work/mlockall-big.rss") KiB)" \
		"$work/mlockall-big.out" "$work/mlockall-big.err"
else
	echo "ok   mlockall-big: $(tr '\n' ' ' <"$work/mlockall-big.out")peak $(( $(cat "$work/mlockall-big.rss") / 1024 )) MiB; $(grep -m1 'MCL_FUTURE\|mlockall' "$work/mlockall-big.err")"
fi

# 4. mlockall, then 4 MiB mapped: resident at once, as under the kernel.
run mlockall-small "$MLOCK" mlockall 4
if [ "$(cat "$work/mlockall-small.rc")" != 0 ] || ! within_cap mlockall-small ||
   ! grep -q "mmap 4 MiB: resident at once 1024 of 1024 pages" "$work/mlockall-small.out" ||
   ! grep -q "mmap 64 KiB: resident at once 16 of 16 pages" "$work/mlockall-small.out" ||
   ! grep -q "filled: 0 bad bytes" "$work/mlockall-small.out"; then
	bad "mlockall-small: a mapping made under MCL_FUTURE must be resident at once" \
		"$work/mlockall-small.out" "$work/mlockall-small.err"
else
	echo "ok   mlockall-small: $(tr '\n' ' ' <"$work/mlockall-small.out")"
fi

# refused NAME WHY EXPECT PROGRAM...: upager-run refuses PROGRAM saying
# WHY; with --fallback it runs it, saying UNPAGED, and its output holds
# EXPECT.
refused() {
	local name=$1 why=$2 expect=$3
	shift 3
	if "$RUN" --max-resident ${CAP_MIB}M -- "$@" >"$work/$name.out" 2>"$work/$name.err"; then
		bad "$name: ran (exit 0) where it must be refused" "$work/$name.out" "$work/$name.err"
	elif ! grep -q "$why" "$work/$name.err" || ! grep -q refusing "$work/$name.err"; then
		bad "$name: refused without saying \"$why\"" "$work/$name.err"
	elif { "$RUN" --max-resident ${CAP_MIB}M --fallback -- "$@" >"$work/$name.fb.out" 2>"$work/$name.fb.err"; false; } ||
	     ! grep -q "UNPAGED" "$work/$name.fb.err" || { [ -n "$expect" ] && ! grep -q "$expect" "$work/$name.fb.out"; }; then
		bad "$name: --fallback must run it with a loud line" "$work/$name.fb.out" "$work/$name.fb.err"
	else
		echo "ok   $name: $(head -1 "$work/$name.err")"
		echo "     --fallback: $(head -1 "$work/$name.fb.err")"
	fi
}

# 5. A static binary (no ELF interpreter), directly and through "#!".
refused static "statically linked" "mlock 1 MiB: ok" "$STATIC" mlock 1
printf '#!%s\n' "$STATIC" >"$work/script"
chmod 755 "$work/script"
# (the interpreter gets the script's path first: it runs, and says how to use it)
refused static-script "statically linked" "" "$work/script"

# 6. A set-user-ID binary of another user: secure-execution mode drops
# LD_PRELOAD. Needs root (chown) and a mount that honours set-ID bits.
cp "$MLOCK" "$work/suid-prog"
if [ "$(id -u)" = 0 ] && chown nobody "$work/suid-prog" && chmod u+s "$work/suid-prog" &&
   ! findmnt -n -o OPTIONS -T "$work" | grep -qw nosuid; then
	refused setuid "set-user-ID" "mlock 1 MiB: ok" "$work/suid-prog" mlock 1
else
	echo "skip setuid: needs root and a mount without nosuid"
fi
exit $fail
