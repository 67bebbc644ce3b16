#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libshmkit loads beside other libraries: dlopen (Python's ctypes does)
# takes it, four distinct copies of it (a plugin and a binding each with
# their own, as managed.c expects two copies in one process), and then a
# library with 512 bytes of initial-exec TLS. A libshmkit marked
# DF_STATIC_TLS (an initial-exec TLS variable, c898c44) had glibc put its
# whole TLS block (over 1 KiB) in the static TLS surplus: the second copy
# failed "cannot allocate memory in static TLS block" (helper h36g).
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"
CC=${CC:-cc}
LIB="$(dirname "$SHMKIT")/libshmkit.so"
[ -e "$LIB" ] || { echo "no $LIB: skipped"; exit 77; }
# a sanitized library does not load into a plain program
if readelf -d "$LIB" | grep -E 'NEEDED.*lib(asan|tsan|ubsan)' >/dev/null; then
	echo "sanitized library: skipped"
	exit 77
fi
ARCH=
[ "$(od -An -tx1 -j4 -N1 "$LIB" | tr -d ' ')" = 01 ] && ARCH=-m32

readelf -d "$LIB" | grep STATIC_TLS >/dev/null && fail "$LIB is marked DF_STATIC_TLS"

cat >"$TMP/ie.c" <<'EOF'
__thread char ie_block[512] __attribute__((tls_model("initial-exec")));
char *ie_touch(void) { return ie_block; }
EOF
cat >"$TMP/load.c" <<'EOF'
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!dlopen(argv[i], RTLD_NOW | RTLD_LOCAL)) {
			printf("%s\n", dlerror());
			return 1;
		}
	return 0;
}
EOF
"$CC" $ARCH -shared -fPIC -o "$TMP/libie.so" "$TMP/ie.c" &&
	"$CC" $ARCH -o "$TMP/load" "$TMP/load.c" -ldl ||
	{ echo "helpers did not build: skipped"; exit 77; }
copies=()
for i in 1 2 3 4; do
	cp "$LIB" "$TMP/libshmkit-copy$i.so"
	copies+=("$TMP/libshmkit-copy$i.so")
done
expect 0 "$TMP/load" "${copies[@]}" "$TMP/libie.so"
[ "$FAILS" = 0 ] || cat "$TMP/out" >&2
exit $((FAILS > 0))
