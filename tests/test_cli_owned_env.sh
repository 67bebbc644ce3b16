#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# An explicit --owned on a create wins over SHMKIT_PERSIST=1 in the
# environment: the library made the object persistent all the same, so gc
# would never remove it and nothing said so. Every create command that takes
# --owned (map, heap, topic, queue); without --owned the environment (and
# the shell's default) still makes it persistent.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
P="posix:/shmkit-test-$$-owned"

ownership() { "$SHMKIT" stat "$1" | awk -F': *' '$1 == "ownership" { split($2, w, " "); print w[1] }'; }

for kind in map heap topic queue; do
	case $kind in
	map | heap) args() { echo "$kind $1 create 64K"; } ;;
	topic) args() { echo "topic create $1 --slots 4 --slot-size 64"; } ;;
	queue) args() { echo "queue create $1 --capacity 4 --max-msg 16 --multi"; } ;;
	esac
	u="$P-$kind"
	CLEANUP+=("$u")
	# shellcheck disable=SC2046
	SHMKIT_PERSIST=1 "$SHMKIT" $(args "$u") --owned >/dev/null || fail "$kind create --owned"
	[ "$(ownership "$u")" = owned ] || fail "$kind create --owned under SHMKIT_PERSIST=1: $(ownership "$u")"
	"$SHMKIT" rm "$u"
	# shellcheck disable=SC2046
	SHMKIT_PERSIST=1 "$SHMKIT" $(args "$u") >/dev/null || fail "$kind create"
	[ "$(ownership "$u")" = persistent ] || fail "$kind create under SHMKIT_PERSIST=1: $(ownership "$u")"
	"$SHMKIT" rm "$u"
	# shellcheck disable=SC2046
	SHMKIT_PERSIST=0 "$SHMKIT" $(args "$u") --owned >/dev/null || fail "$kind create --owned"
	[ "$(ownership "$u")" = owned ] || fail "$kind create --owned: $(ownership "$u")"
	"$SHMKIT" rm "$u"
done

finish test_cli_owned_env
