#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The project is MIT-licensed (LICENSE) and every source file says so in an
# SPDX-License-Identifier line near its top: a new file without one fails
# here, naming the file and the line to add.
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:?run from ctest}
cd "$SRC" || exit 1
command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
	{ echo "skip: not a git checkout (the file list comes from git ls-files)"; exit 77; }
FAILS=0
grep -q "^MIT License" LICENSE 2>/dev/null && grep -q "the shmkit authors" LICENSE ||
	{ echo "FAIL: LICENSE is missing or not the MIT license of the shmkit authors"; FAILS=$((FAILS + 1)); }
while IFS= read -r f; do
	[ -f "$f" ] || continue
	case "$f" in
	*/corpus/*) continue ;;
	*.c | *.h | *.cpp | *.map) want="/* SPDX-License-Identifier: MIT */" ;;
	*.sh | *.py | *.bash | *.txt | *.in | *.supp | */Makefile | Makefile | .gitignore | */.gitignore | .clang-format)
		want="# SPDX-License-Identifier: MIT" ;;
	*.[137]) want='.\" SPDX-License-Identifier: MIT' ;;
	*.go) want="// SPDX-License-Identifier: MIT" ;;
	*) continue ;;
	esac
	head -3 "$f" | grep -qF "SPDX-License-Identifier: MIT" ||
		{ echo "FAIL: $f has no SPDX line: add '$want' as its first line (after a #! line)"; FAILS=$((FAILS + 1)); }
done < <(git ls-files)
echo "test_license: $FAILS failure(s)"
[ "$FAILS" = 0 ]
