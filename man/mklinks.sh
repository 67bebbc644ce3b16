#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# man/mklinks.sh SRCDIR OUTDIR [--check]: one man3 link page per public function, so
# `man shmkit_queue_send` opens the group page that documents it.
# Public functions are the SHMKIT_API declarations in SRCDIR/include; the group
# page is the man/man3 page whose NAME section lists the function. Writes OUTDIR/<function>.3 containing ".so man3/<group>.3". Exits 1,
# naming them, if a public function is documented nowhere.
set -euo pipefail
src=$1 out=$2 check=${3:-}
mkdir -p "$out"
missing=()
for fn in $(sed -n 's/^SHMKIT_\(BRIDGE_\)\{0,1\}API[^(]*[ *]\(shmkit_[a-z0-9_]*\)(.*/\2/p' \
	"$src"/include/shmkit.h "$src"/include/shmkit/*.h | sort -u); do
	[ -e "$src/man/man3/$fn.3" ] && continue # has a page of its own
	page=
	for p in "$src"/man/man3/*.3; do
		# the NAME section: from ".SH NAME" to the next ".SH"
		if awk '/^\.SH /{on = ($2 == "NAME"); next} on' "$p" | tr ',' '\n' |
			grep -qw -- "$fn"; then
			page=$p
			break
		fi
	done
	if [ -z "$page" ]; then
		missing+=("$fn")
		continue
	fi
	printf '.so man3/%s\n' "$(basename "$page")" >"$out/$fn.3"
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "man/mklinks.sh: public functions in no man3 page's NAME section: ${missing[*]}" >&2
	[ "$check" != --check ] || exit 1
fi
