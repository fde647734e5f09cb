#!/usr/bin/env bash
# docs/ARCHITECTURE.md's two checkable claims about lib/:
#  - the include rule: a file under lib/LAYER includes "layer/..." headers
#    of its own and lower layers only (core <- os <- {backend, store} <-
#    mm); tools/ reach lib/ only through the headers it names;
#  - the module table names every lib/ source file exactly once, and no
#    file that does not exist.
#   check-arch.sh SOURCE_ROOT
set -euo pipefail
cd "$1"
bad=0
fail() {
	echo "check-arch: $*" >&2
	bad=1
}

# Which layers each layer may include.
allowed() {
	case $1 in
	core) echo "core" ;;
	os) echo "core os" ;;
	backend) echo "core os backend" ;;
	store) echo "core os store" ;;
	mm) echo "core os backend store mm" ;;
	top) echo "core os backend store mm" ;; # lib/upager-internal.[ch]
	*) echo "" ;;
	esac
}

while IFS= read -r f; do
	rel=${f#lib/}
	case $rel in */*) layer=${rel%%/*} ;; *) layer=top ;; esac
	ok=$(allowed "$layer")
	[ -n "$ok" ] || { fail "$f: in no layer"; continue; }
	while IFS= read -r inc; do
		[ -n "$inc" ] || continue
		to=${inc%%/*}
		case " $ok " in *" $to "*) continue ;; esac
		fail "$f includes \"$inc\": $layer may not include $to"
	done < <(sed -n 's/^#include "\([a-z]*\/[^"]*\)".*/\1/p' "$f")
done < <(git ls-files 'lib/*.c' 'lib/*.h')

# tools/ include lib/ headers only as the document says: the internal
# header, core/hist.h (the histogram's layout), and the shim's and the
# launcher's reach into the engine (tools/run/).
while IFS= read -r line; do
	f=${line%%:*}
	inc=${line#*:}
	case $inc in core/hist.h) continue ;; esac
	case $f in tools/run/*)
		case $inc in core/options.h | os/fdreg.h | os/compat.h | mm/pager.h | mm/lock.h) continue ;; esac ;;
	esac
	fail "$f includes \"$inc\": tools/ reach lib/ through upager.h and upager-internal.h"
done < <(git ls-files 'tools/*.c' 'tools/*.h' |
	xargs -r grep -H -o '^#include "\(core\|os\|backend\|store\|mm\)/[^"]*"' |
	sed 's/:#include "\(.*\)"$/:\1/')

# The module table: rows of the "## Modules" section, second column.
named=$(awk '/^## Modules/ { on = 1; next } /^## / { on = 0 } on && /^\| /' docs/ARCHITECTURE.md |
	awk -F'|' '{ print $3 }' | grep -o 'lib/[A-Za-z0-9_./-]*\.[ch]' | sort || true)
[ -n "$named" ] || fail "docs/ARCHITECTURE.md: no module table found"
while IFS= read -r f; do
	[ -n "$f" ] || continue
	[ -e "$f" ] || fail "module table names $f, which does not exist"
done <<<"$(echo "$named" | sort -u)"
while IFS= read -r f; do
	[ -n "$f" ] || continue
	fail "module table names $f more than once"
done <<<"$(echo "$named" | uniq -d)"
while IFS= read -r f; do
	grep -qxF "$f" <<<"$named" || fail "$f is in no row of the module table"
done < <(git ls-files 'lib/*.c' 'lib/*.h')
exit $bad
