#!/usr/bin/env bash
# docs/ holds prose, docs/results/ the tools' raw output with an index: no
# result file beside the prose, every result in the index, and every
# docs/ path the sources and the documentation name exists.
#   check-docs.sh SOURCE_ROOT
set -euo pipefail
cd "$1"
bad=0
fail() {
	echo "check-docs: $*" >&2
	bad=1
}

for f in docs/*; do
	[ -d "$f" ] || case $f in *.md) ;; *) fail "$f: not prose; results go in docs/results/" ;; esac
done
for f in docs/results/*; do
	name=${f#docs/results/}
	[ "$name" = README.md ] && continue
	grep -qF "$name" docs/results/README.md || fail "$f is not in docs/results/README.md"
done
# Every docs/... path named anywhere in the tree git knows (a glob in the
# name, as docs/results/stress-ng-*.txt, must match something).
while IFS= read -r ref; do
	# shellcheck disable=SC2086
	compgen -G "$ref" >/dev/null || fail "$ref is named but does not exist"
done < <(git ls-files -z | xargs -0 grep -I -o -h -E 'docs/[A-Za-z0-9_./*-]*[A-Za-z0-9*]' 2>/dev/null |
	sed 's/\.$//' | sort -u)
exit $bad
