#!/bin/bash
# check-input.sh - upager-run given bad input, or told small lies: each
# check asserts what the user sees (exit status, the message, the files
# left behind), never a timing.
#
# usage: check-input.sh UPAGER_RUN MT_HEAP
set -uo pipefail

RUN=$1 MT_HEAP=$2
work=$(mktemp -d /var/tmp/upager-check-input.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail=0

bad() { echo "FAIL $1: $2"; [ -n "${3:-}" ] && sed 's/^/  /' "$3" | tail -10; fail=1; }
ok() { echo "ok   $1: $2"; }

# 1. --stats-json never writes through a symlink: refused, the target
#    untouched; a new file is made 0600.
echo precious >"$work/target"
ln -s "$work/target" "$work/link.json"
if "$RUN" -m 16M --stats-json "$work/link.json" -- true 2>"$work/link.err"; then
	bad stats-json-symlink "ran with a symlinked --stats-json"
elif [ "$(cat "$work/target")" != precious ]; then
	bad stats-json-symlink "the symlink's target was changed"
elif ! grep -q "symbolic link" "$work/link.err"; then
	bad stats-json-symlink "no clear message" "$work/link.err"
else
	ok stats-json-symlink "$(head -1 "$work/link.err")"
fi
(umask 022; "$RUN" -m 16M --stats-json "$work/new.json" -- true 2>"$work/new.err")
mode=$(stat -c %a "$work/new.json" 2>/dev/null)
if [ "$mode" != 600 ]; then
	bad stats-json-mode "a fresh --stats-json file has mode ${mode:-none}, not 600" "$work/new.err"
else
	ok stats-json-mode "created 0600"
fi
# The program itself puts a symlink there: nothing goes through it (the
# launcher opened the file before the run and writes only there).
echo precious >"$work/target2"
"$RUN" -m 16M --stats-json "$work/swapped.json" -- sh -c \
	'rm -f "$1"; ln -s "$2" "$1"; exec "$3" 8 1' \
	_ "$work/swapped.json" "$work/target2" "$MT_HEAP" >/dev/null 2>"$work/swapped.err"
if [ "$(cat "$work/target2")" != precious ]; then
	bad stats-json-late-symlink "the run appended through a symlink: $(head -c 200 "$work/target2")"
else
	ok stats-json-late-symlink "target untouched"
fi

# 2. --swap PATH: every process of the run has a store of its own, however
#    many start at once (xargs -P 40); a directory serves them all; an
#    existing file is refused by name.
many='seq 200 | xargs -P 40 -n 1 /bin/true'
mkdir "$work/files"
# Deterministic: a descendant's store (ls, listing its own descriptors) is
# not the run process's name; two processes never race for one name.
"$RUN" -m 16M --swap "$work/files/swap" -- sh -c 'ls -l /proc/self/fd/; exit 0' \
	>"$work/fds.out" 2>&1
if grep -q "$work/files/swap (deleted)" "$work/fds.out" ||
   ! grep -q "$work/files/swap\.[0-9]* (deleted)" "$work/fds.out"; then
	bad swap-file-own "a descendant's store is not swap.<pid>" "$work/fds.out"
else
	ok swap-file-own "$(grep -o "$work/files/swap\.[0-9]* (deleted)" "$work/fds.out" | head -1)"
fi
if ! "$RUN" -m 16M --swap "$work/files/swap" -- sh -c "$many" 2>"$work/swap.err" ||
   grep -q "File exists" "$work/swap.err"; then
	bad swap-file-concurrent "200 processes, 40 at once, with --swap FILE" "$work/swap.err"
elif [ -n "$(ls -A "$work/files")" ]; then
	bad swap-file-concurrent "swap files left behind: $(ls -A "$work/files" | head -3)"
else
	ok swap-file-concurrent "200 processes, 40 at once: all ran, no file left"
fi
mkdir "$work/swapdir"
if ! "$RUN" -m 16M --swap "$work/swapdir" -- sh -c "$many" 2>"$work/swapdir.err"; then
	bad swap-dir "200 processes with --swap DIR" "$work/swapdir.err"
elif [ -n "$(ls -A "$work/swapdir")" ]; then
	bad swap-dir "files left in the directory: $(ls -A "$work/swapdir" | head -3)"
else
	ok swap-dir "200 processes, a file of their own each in the directory, none left"
fi
touch "$work/exists"
if "$RUN" -m 16M --swap "$work/exists" -- true 2>"$work/exists.err"; then
	bad swap-exists "ran with an existing --swap file"
elif ! grep -q "$work/exists" "$work/exists.err"; then
	bad swap-exists "the message does not name the path" "$work/exists.err"
else
	ok swap-exists "$(grep -m1 "$work/exists" "$work/exists.err")"
fi

# 4. Sizes: a swap store below its minimum says the minimum; a budget of
#    0 is refused however it is given; a blank before a sign is no number.
if UPAGER_SWAP_SIZE=100K "$RUN" -m 16M -- true 2>"$work/small.err"; then
	bad swap-size-small "ran with a 100 KiB swap store"
elif ! grep -q "256 KiB" "$work/small.err"; then
	bad swap-size-small "the message does not say the minimum" "$work/small.err"
else
	ok swap-size-small "$(grep -m1 256 "$work/small.err")"
fi
if UPAGER_MAX_RESIDENT=0 "$RUN" -- true 2>"$work/zero-env.err"; then
	bad max-resident-zero "UPAGER_MAX_RESIDENT=0 ran (uncapped)"
elif ! "$RUN" -m 0 -- true 2>/dev/null; then
	ok max-resident-zero "UPAGER_MAX_RESIDENT=0 and -m 0 both refused: $(grep -m1 MAX_RESIDENT "$work/zero-env.err")"
else
	bad max-resident-zero "-m 0 ran"
fi
if UPAGER_RUN_MIN=" -1" "$RUN" -m 16M -- true 2>"$work/min.err"; then
	bad run-min-sign "UPAGER_RUN_MIN=\" -1\" ran (paging nothing)"
else
	ok run-min-sign "$(head -1 "$work/min.err")"
fi

# 3. A SIGBUS's reason is written before the signal can end the program:
#    a cap and a swap store too small for 64 MiB, and no SIGBUS handler.
sigbus_ok=0
for i in $(seq 10); do
	"$RUN" -m 1M --swap-size 256K -- "$MT_HEAP" 64 1 >/dev/null 2>"$work/sigbus.err"
	rc=$?
	if [ $rc -ne 135 ]; then
		bad sigbus-reason "run $i: exit status $rc, not 135 (SIGBUS)" "$work/sigbus.err"; break
	elif ! grep -q "SIGBUS: out of memory" "$work/sigbus.err"; then
		bad sigbus-reason "run $i: killed by SIGBUS with no reason printed" "$work/sigbus.err"; break
	fi
	sigbus_ok=$i
done
[ $sigbus_ok -eq 10 ] && ok sigbus-reason "10 runs killed by SIGBUS, each with its reason: $(grep -m1 SIGBUS "$work/sigbus.err")"

# 7. upager's metadata grows with the frames used, not with the budget:
#    a trivial program under a 16 GiB cap stays small.
rss=$("$RUN" -m 16G -- grep VmRSS /proc/self/status | awk '{print $2}')
if [ -z "$rss" ] || [ "$rss" -gt $((16 * 1024)) ]; then
	bad rss-large-budget "a trivial program under -m 16G: VmRSS ${rss:-?} KiB, over 16 MiB"
else
	ok rss-large-budget "a trivial program under -m 16G: VmRSS $rss KiB"
fi
exit $fail
