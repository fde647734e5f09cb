#!/bin/bash
# check-kv.sh - a key-value server under upager-run, every value checked:
# memcached (its own memory large enough that it never evicts) holds 20 k
# values of 512 B (13 MiB in its slabs) under a 12M cap, well past it, loaded and read back by
# tools/bench/kv-load from 4 connections; every value must verify and the
# server must stop cleanly on SIGTERM. First, the client itself must catch
# a wrong value and a missing one (a natively run server, one value
# rewritten and one deleted behind its back): else a pass proves nothing.
#
# usage: check-kv.sh UPAGER_RUN KV_LOAD
set -uo pipefail
RUN=$1 LOAD=$2
MEMCACHED=$(command -v memcached || ls /usr/bin/memcached 2>/dev/null)
if [ -z "$MEMCACHED" ]; then
	echo "SKIP: no memcached (tools/install-deps installs it)"
	exit 77
fi
dir=$(mktemp -d /tmp/upager-kv-XXXXXX)
sock=$dir/sock
server=
stop() { # the server's exit status after SIGTERM
	kill -TERM "$server" 2>/dev/null
	wait "$server"
}
trap '[ -n "$server" ] && kill -KILL "$server" 2>/dev/null; rm -rf "$dir"' EXIT
start() { # command prefix...
	rm -f "$sock"
	"$@" "$MEMCACHED" -u root -s "$sock" -m 1024 -t 2 -c 64 &
	server=$!
	for _ in $(seq 100); do
		[ -S "$sock" ] && return 0
		sleep 0.1
	done
	echo "FAIL: memcached never listened on $sock"
	exit 1
}
fail=0

# The client's own check: a rewritten value and a deleted one are seen.
start
"$LOAD" -s "$sock" -k 2000 -P load >/dev/null || { echo "FAIL: load natively"; fail=1; }
python3 - "$sock" <<'PY' || { echo "FAIL: could not tamper"; fail=1; }
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
v = b"x" * 512
s.sendall(b"set k7 0 0 512\r\n" + v + b"\r\ndelete k8\r\n")
got = b""
while got.count(b"\r\n") < 2:
    got += s.recv(100)
sys.exit(0 if got == b"STORED\r\nDELETED\r\n" else 1)
PY
out=$("$LOAD" -s "$sock" -k 2000 -P verify)
rc=$?
if [ $rc -ne 1 ] || ! grep -q "misses 1 wrong 1 " <<<"$out"; then
	echo "FAIL tamper: exit $rc (1 expected), '$out'"
	fail=1
else
	echo "ok   tamper: exit 1, $(grep ^verify <<<"$out")"
fi
stop

# Under upager-run, past the cap.
stats=$dir/stats.json
start timeout -k 5 400 "$RUN" --max-resident 12M --stats-json "$stats" --
out=$(timeout -k 5 300 "$LOAD" -s "$sock" -k 20000 -n 40000)
rc=$?
stop
src=$?
server=
swapins=$(python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1]) if x.strip()]; print(l[-1].get("totals", {}).get("swapins", 0))' "$stats" 2>/dev/null)
if [ $rc -ne 0 ] || [ $src -ne 0 ] || ! grep -q "^verify .* verified 20000 misses 0 wrong 0" <<<"$out" ||
   [ "${swapins:-0}" -eq 0 ]; then
	echo "FAIL upager: client exit $rc, server exit $src, swap-ins ${swapins:-?}, '$out'"
	fail=1
else
	echo "ok   upager -m 12M: server exit 0, $swapins swap-ins, $(grep ^verify <<<"$out")"
fi
exit $fail
