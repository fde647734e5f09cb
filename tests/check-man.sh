#!/bin/bash
# check-man.sh - the man pages render without a groff warning, and
# upager-run(1) and upager(7) name every option and variable
# `upager-run --help` names; `meson install` puts them and the bash
# completion where man(1) and bash-completion look.
#
# usage: check-man.sh SOURCE_ROOT BUILD_ROOT UPAGER_RUN
set -uo pipefail

SRC=$1 BUILD=$2 RUN=$3
fail=0
bad() { echo "FAIL $1: $2"; fail=1; }
ok() { echo "ok   $1: $2"; }

for page in upager-run.1 upager-bench.1 upager-trace.1 libupager.3 upager.7; do
	warn=$(groff -man -Tutf8 -ww -z "$SRC/man/$page" 2>&1)
	[ -z "$warn" ] && ok "render-$page" "no warning" || bad "render-$page" "$warn"
done
help=$("$RUN" --help)
for opt in $(grep -Eo -- '--[a-z][a-z-]+' <<<"$help" | sort -u); do
	grep -q -- "${opt//-/\\\\-}" "$SRC/man/upager-run.1" || bad "man-option" "upager-run.1 lacks $opt"
done
for var in $(grep -Eo 'UPAGER_[A-Z_]+' <<<"$help" | sort -u); do
	grep -q "$var" "$SRC/man/upager.7" || bad "man-variable" "upager.7 lacks $var"
done
BENCH=$BUILD/tools/upager-bench
for sub in faults swap file; do
	for opt in $(grep -Eo -- '--[a-z][a-z-]+' <<<"$("$BENCH" "$sub" --help)" | sort -u); do
		grep -q -- "${opt//-/\\\\-}" "$SRC/man/upager-bench.1" ||
			bad "man-option" "upager-bench.1 lacks $sub's $opt"
		grep -q -- "$opt" "$SRC/completions/upager-bench" ||
			bad "completion-option" "completions/upager-bench lacks $sub's $opt"
	done
done
for opt in $(grep -Eo -- '--[a-z][a-z-]+' <<<"$help" | sort -u); do
	grep -q -- "$opt" "$SRC/completions/upager-run" ||
		bad "completion-option" "completions/upager-run lacks $opt"
done
TRACE=$BUILD/tools/trace/upager-trace
if [ -x "$TRACE" ]; then
	for opt in $(grep -Eo -- '--[a-z][a-z-]+' <<<"$("$TRACE" --help)" | sort -u); do
		grep -q -- "${opt//-/\\\\-}" "$SRC/man/upager-trace.1" ||
			bad "man-option" "upager-trace.1 lacks $opt"
		grep -q -- "$opt" "$SRC/completions/upager-trace" ||
			bad "completion-option" "completions/upager-trace lacks $opt"
	done
fi
[ $fail -eq 0 ] && ok man-complete "every option of --help in upager-run.1 and upager-bench.1, every variable in upager.7"

dest=$(mktemp -d /var/tmp/upager-check-man.XXXXXX)
trap 'rm -rf "$dest"' EXIT
if ! meson install -C "$BUILD" --no-rebuild --quiet --destdir "$dest" >"$dest.log" 2>&1; then
	bad install "meson install failed: $(tail -3 "$dest.log")"
else
	for f in man1/upager-run.1 man1/upager-bench.1 man1/upager-trace.1 man3/libupager.3 man7/upager.7; do
		[ -n "$(find "$dest" -path "*/share/man/$f*" -print -quit)" ] || bad install "no $f installed"
	done
	for c in upager-run upager-bench upager-trace; do
		[ -n "$(find "$dest" -path "*/bash-completion/completions/$c" -print -quit)" ] ||
			bad install "no bash completion for $c installed"
	done
	page=$(find "$dest" -path '*/man1/upager-run.1*' -print -quit)
	[ -n "$page" ] && man -l "$page" 2>/dev/null | grep -q 'EXIT STATUS' && ok install "man pages and completion installed; man -l renders upager-run(1)"
fi
rm -f "$dest.log"
for c in upager-run upager-bench upager-trace; do
	bash -n "$SRC/completions/$c" || bad completion "bash -n $c failed"
done
exit $fail
