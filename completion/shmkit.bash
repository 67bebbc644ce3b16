# SPDX-License-Identifier: MIT
# bash completion for shmkit(1): subcommands, their options, map/heap/queue
# actions, and the URIs of segments that exist now. Everything is asked of
# the shmkit being completed (its help and `ls`), so it follows the tool.
# Installed as share/bash-completion/completions/shmkit by `make install`.

# The commands `shmkit --help` lists.
_shmkit_commands()
{
	"$1" --help 2>/dev/null | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'
}

# The long options in a command's usage line.
_shmkit_options()
{
	"$1" help "$2" 2>/dev/null | grep -o -- '--[a-z][a-z-]*' | sort -u
}

# The URIs of the segments that exist now that start with $2, the word as
# typed so far, added to COMPREPLY. Each is what ls prints (a blank, a
# backslash, a control byte, a byte that is not UTF-8 written \xHH, which
# every URI operand decodes back) quoted for the shell by printf %q (\xHH
# becomes \\xHH), so that what is completed names the segment when run.
_shmkit_uris()
{
	local w q
	while IFS= read -r w; do
		printf -v q '%q' "$w"
		[[ "$q" == "$2"* ]] || continue
		# bash replaces only the part after the last colon (COMP_WORDBREAKS)
		if [[ "$2" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
			q=${q#"${2%:*}:"}
		fi
		COMPREPLY+=("$q")
	done < <("$1" ls --noheadings --raw -o URI 2>/dev/null)
}

_shmkit()
{
	local tool=${COMP_WORDS[0]} cword=$COMP_CWORD cur line cmd words
	# the word being completed, whole: bash splits "posix:/x" at the colon
	line=${COMP_LINE:0:COMP_POINT}
	cur=${line##*[[:space:]]}
	COMPREPLY=()
	if [ "$cword" -le 1 ]; then
		words="$(_shmkit_commands "$tool") help --help --version"
	else
		cmd=${COMP_WORDS[1]}
		case "${COMP_WORDS[cword - 1]}" in
		--timeout | --count | --capacity | --max-msg | --slots | --slot-size | --max-subs | \
			--mode | --offset | --length | --wait-subs | --user | --kind | -o | --output | \
			--interval | --stats | --window | --curve-server-key)
			return 0 ;; # a value: nothing sensible to offer
		--state | --curve-keys)
			mapfile -t COMPREPLY < <(compgen -f -- "$cur") # bridge's files
			return 0 ;;
		esac
		if [ "$cmd" = help ]; then
			words=$(_shmkit_commands "$tool")
		elif [[ "$cur" == -* ]]; then
			words=$(_shmkit_options "$tool" "$cmd")
		elif [[ "$cmd" =~ ^(map|heap)$ && $cword -eq 3 ]]; then
			words=$("$tool" help "$cmd" 2>/dev/null | sed -n 's/^usage: shmkit [a-z]* URI //p' |
				grep -o '\(^\|| \)[a-z]\+' | tr -d '| ')
		elif [[ "$cmd" =~ ^(queue|topic)$ && $cword -eq 2 ]]; then
			words="create stat"
		elif [[ "$cmd" = bridge && $cword -eq 2 ]]; then
			words="out in keygen"
		else
			_shmkit_uris "$tool" "$cur"
			return 0
		fi
	fi
	local IFS=$'\n' w
	for w in $(compgen -W "$words" -- "$cur"); do
		# bash replaces only the part after the last colon (COMP_WORDBREAKS)
		if [[ "$cur" == *:* && "$COMP_WORDBREAKS" == *:* ]]; then
			w=${w#"${cur%:*}:"}
		fi
		COMPREPLY+=("$w")
	done
}
complete -F _shmkit shmkit
