#!/usr/bin/env bash
# Build tests/consumer/consumer.c as a user of libupager would, and run it:
#   check.sh uninstalled BUILD   against BUILD/meson-uninstalled's .pc
#   check.sh installed BUILD     `meson install --destdir` into a temporary
#                                directory, then against the installed .pc
#   check.sh subproject SRC      a meson project with SRC as subprojects/upager
# Exits 0 when the consumer builds and runs, 1 with the reason otherwise.
set -euo pipefail

mode=${1:?usage: check.sh uninstalled|installed BUILD, or subproject SRC}
dir=$(realpath "${2:?usage: check.sh MODE DIR}")
here=$(dirname "$(realpath "$0")")
cc=${CC:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "consumer ($mode): $*" >&2
	exit 1
}

build_and_run() { # PKG_CONFIG_PATH, pkg-config extra args, LD_LIBRARY_PATH
	local flags
	flags=$(PKG_CONFIG_PATH=$1 pkg-config $2 --cflags --libs libupager) ||
		fail "pkg-config found no libupager in $1"
	# shellcheck disable=SC2086
	"$cc" -std=c99 -Wall -Werror -o "$tmp/consumer" "$here/consumer.c" $flags ||
		fail "does not build with: $flags"
	LD_LIBRARY_PATH=$3 "$tmp/consumer" || fail "the consumer failed"
}

case $mode in
uninstalled)
	# pkg-config picks libupager-uninstalled.pc over libupager.pc itself.
	build_and_run "$dir/meson-uninstalled" "" "$dir/lib"
	;;
installed)
	meson install -C "$dir" --destdir "$tmp/root" --quiet >/dev/null ||
		fail "meson install --destdir failed"
	pc=$(find "$tmp/root" -name libupager.pc | head -n 1)
	[ -n "$pc" ] || fail "no libupager.pc installed"
	pcdir=$(dirname "$pc")
	# The .pc names its install prefix; under DESTDIR the files are below it.
	prefix=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=prefix libupager)
	libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir libupager)
	build_and_run "$pcdir" "--define-variable=prefix=$tmp/root$prefix" "$tmp/root$libdir"
	;;
subproject)
	mkdir -p "$tmp/proj/subprojects"
	cp "$here/meson.build" "$here/consumer.c" "$tmp/proj/"
	ln -s "$dir" "$tmp/proj/subprojects/upager"
	meson setup "$tmp/proj/build" "$tmp/proj" >"$tmp/setup.log" 2>&1 ||
		{ cat "$tmp/setup.log" >&2; fail "meson setup of the consumer project failed"; }
	ninja -C "$tmp/proj/build" -j2 consumer >"$tmp/build.log" 2>&1 ||
		{ cat "$tmp/build.log" >&2; fail "the consumer project does not build"; }
	"$tmp/proj/build/consumer" || fail "the consumer failed"
	;;
*)
	fail "unknown mode"
	;;
esac
echo "consumer ($mode): ok"
