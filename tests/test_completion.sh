#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bash completion (completion/shmkit.bash, installed by `make install`):
# `complete -p shmkit` names it, and with COMP_WORDS/COMP_LINE set as bash
# sets them it completes subcommands, a command's options, map actions and
# the URIs of segments that exist now (split at ':' as bash splits them).
set -uo pipefail
SHMKIT=${SHMKIT:-build/shmkit}
SRC=${SHMKIT_SOURCE_DIR:-.}
SHMKIT=$(realpath "$SHMKIT")
U="posix:/shmkit-test-$$-compl"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# names another program chose (a blank, a backslash, a byte that is not
# UTF-8, a '$'), made in /dev/shm as it would, and removed whatever happens
X="shmkit-test-$$-cx"
XNAMES=("$X-sp ace" "$X-back\\slash" "$X-lat"$'\xe9'"x" "$X-dol\$lar")
trap '"$SHMKIT" rm "$U" >/dev/null 2>&1; for n in "${XNAMES[@]}"; do rm -f "/dev/shm/$n"; done' EXIT
"$SHMKIT" create "$U" 4K || fail "create $U"
for n in "${XNAMES[@]}"; do : >"/dev/shm/$n" || fail "make /dev/shm/$n"; done

# shellcheck source=/dev/null
. "$SRC/completion/shmkit.bash"
complete -p shmkit | grep -q -- "-F _shmkit shmkit" || fail "complete -p: $(complete -p shmkit)"
PATH="$(dirname "$SHMKIT"):$PATH"

# complete LINE: COMPREPLY for the end of LINE, joined by spaces
complete_line() {
	COMP_LINE=$1
	COMP_POINT=${#1}
	local IFS=$' \t\n'
	read -ra COMP_WORDS <<<"$1"
	[[ "$1" == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	# bash splits words at ':' too: the last word is what follows it
	COMP_WORDS[COMP_CWORD]=${COMP_WORDS[COMP_CWORD]##*:}
	_shmkit
	echo "${COMPREPLY[*]}"
}
has() { [[ " $1 " == *" $2 "* ]] || fail "completing '$3' gave '$1', no '$2'"; }

r=$(complete_line "shmkit qu");          has "$r" queue "shmkit qu"
r=$(complete_line "shmkit ");            has "$r" ls "shmkit "; has "$r" recv "shmkit "
r=$(complete_line "shmkit recv x --ti"); has "$r" --timeout "shmkit recv x --ti"
r=$(complete_line "shmkit pub x --w");   has "$r" --wait-subs "shmkit pub x --w"
r=$(complete_line "shmkit ls --no");     has "$r" --noheadings "shmkit ls --no"
r=$(complete_line "shmkit map M ");      has "$r" put "shmkit map M "; has "$r" ls "shmkit map M "
r=$(complete_line "shmkit help st");     has "$r" stat "shmkit help st"
# a URI that exists: the part after the last ':' (what bash replaces)
r=$(complete_line "shmkit stat posix:/shmkit-test-$$-co")
has "$r" "/shmkit-test-$$-compl" "shmkit stat posix:/shmkit-test-$$-co"
r=$(complete_line "shmkit recv x --timeout "); [ -z "$r" ] || fail "a --timeout value completed to '$r'"
# every option that takes a value other than a URI completes no URI
for v in "top --interval" "bridge out x y --stats" "bridge out x y --window" \
	"bridge in x y --curve-server-key"; do
	r=$(complete_line "shmkit $v "); [ -z "$r" ] || fail "a ${v##* } value completed to '$r'"
done
r=$(complete_line "shmkit bridge in x y --state $SRC/completion/shmkit.b")
has "$r" "$SRC/completion/shmkit.bash" "shmkit bridge in x y --state (a file)"
r=$(complete_line "shmkit bridge ");     has "$r" out "shmkit bridge "; has "$r" keygen "shmkit bridge "
# every URI completed, as the shell reads it back (quote removal: eval), is
# one shmkit takes for that very segment (ls prints \xHH; the shell must
# keep the backslash)
r=$(complete_line "shmkit rm posix:/$X")
[ "$(wc -w <<<"$r")" = "${#XNAMES[@]}" ] || fail "completing posix:/$X gave '$r'"
got=()
for w in $r; do
	eval "set -- posix:$w"
	"$SHMKIT" stat "$1" >/dev/null 2>&1 || fail "completed 'posix:$w' is not a URI shmkit finds"
	got+=("$1")
done
got=$(printf '%s\n' "${got[@]}" | sort)
want=$("$SHMKIT" ls -n -o URI "posix:/$X" | sort)
[ "$got" = "$want" ] || fail "completed URIs read back as '$got', ls prints '$want'"
echo "test_completion: $FAILS failure(s)"
[ "$FAILS" = 0 ]
