#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install into a temporary prefix (and again staged with DESTDIR), then build a
# tiny consumer against the INSTALLED library: as C and as C++ via pkg-config,
# statically, and through the CMake package (find_package + shmkit::shmkit).
# Also: the .so exports nothing but shmkit_*, its SONAME is libshmkit.so.0,
# and no private header is installed.
set -uo pipefail
BUILD=${SHMKIT_BINARY_DIR:?run from ctest}
SRC=${SHMKIT_SOURCE_DIR:?run from ctest}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
for t in pkg-config cc c++ nm readelf; do
	command -v $t >/dev/null || { echo "skip: $t not installed (make deps installs it)"; exit 77; }
done

# A sanitized build installs a sanitized library: its consumers need the runtime too.
SAN=()
grep -q '^SHMKIT_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null && SAN=(-fsanitize=address,undefined)
# A -m32 build (make check-all) installs an i386 library: its consumers are i386 too.
M32=
grep -q '^CMAKE_C_FLAGS:STRING=.*-m32' "$BUILD/CMakeCache.txt" 2>/dev/null && M32=-m32 && SAN+=(-m32)

cat >"$TMP/consumer.c" <<'C'
/* Uses the installed headers and library the way any program would. */
#include <shmkit.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	struct shmkit_seg *seg;
	int ret;

	if (strcmp(shmkit_version(), SHMKIT_VERSION_STRING) != 0)
		return 1;
	if (strlen(shmkit_strerror(-ENOENT)) == 0)
		return 2;
	ret = shmkit_seg_open(&seg, "anon:", 4096, SHMKIT_CREATE, 0600);
	if (ret < 0) {
		fprintf(stderr, "anon: %s\n", shmkit_strerror(ret));
		return 3;
	}
	strcpy((char *)shmkit_seg_addr(seg), "hello, world");
	puts((const char *)shmkit_seg_addr(seg));
	return shmkit_seg_close(seg) < 0 ? 4 : 0;
}
C

# check_prefix ROOT PREFIX: the tree under ROOT installed for PREFIX.
check_prefix() {
	local root=$1 what=$2 pc lib out
	pc=$(dirname "$(find "$root" -name shmkit.pc | head -1)")
	[ -n "$pc" ] && [ "$pc" != . ] || { fail "$what: no shmkit.pc installed"; return; }
	lib=$(dirname "$(find "$root" -name 'libshmkit.so.0' | head -1)")
	[ -f "$lib/libshmkit.a" ] || fail "$what: libshmkit.a not installed"
	[ -f "$root/include/shmkit.h" ] || fail "$what: include/shmkit.h not installed"
	for h in internal.h layout.h managed.h; do
		[ ! -e "$root/include/$h" ] || fail "$what: private header $h installed"
	done
	if [ -e "$SRC/man/man1/shmkit.1" ]; then
		[ -e "$root/share/man/man1/shmkit.1" ] || fail "$what: man page shmkit.1 not installed"
	fi
	# `man shmkit_queue_send` finds its group page; bash completion is in place
	[ "$(cat "$root/share/man/man3/shmkit_queue_send.3" 2>/dev/null)" = ".so man3/shmkit_queue.3" ] ||
		fail "$what: man3 link shmkit_queue_send.3 not installed"
	[ -f "$root/share/bash-completion/completions/shmkit" ] ||
		fail "$what: bash completion not installed"
	"$root/bin/shmkit" --version >/dev/null || fail "$what: installed shmkit does not run"

	export PKG_CONFIG_PATH="$pc"
	local cflags libs
	cflags=$(pkg-config --cflags shmkit) && libs=$(pkg-config --libs shmkit) ||
		{ fail "$what: pkg-config cannot find shmkit"; return; }
	case "$cflags $libs" in *"$root"*) ;; *) fail "$what: pkg-config points elsewhere: $cflags $libs" ;; esac
	# C, C++ (headers must be extern "C" and C++-clean), and static.
	cc -std=c11 -Wall -Wextra -Werror "${SAN[@]}" $cflags "$TMP/consumer.c" $libs -o "$TMP/c" ||
		fail "$what: C consumer does not build"
	c++ -std=c++17 -Wall -Wextra -Werror -x c++ "${SAN[@]}" $cflags "$TMP/consumer.c" -x none $libs \
		-o "$TMP/cxx" || fail "$what: C++ consumer does not build"
	cc -std=c11 "${SAN[@]}" $cflags "$TMP/consumer.c" "$lib/libshmkit.a" \
		$(pkg-config --libs-only-other --static shmkit) -lpthread -o "$TMP/static" ||
		fail "$what: static consumer does not build"
	for p in c cxx static; do
		[ -x "$TMP/$p" ] || continue
		out=$(LD_LIBRARY_PATH="$lib" "$TMP/$p") || fail "$what: $p consumer failed"
		[ "$out" = "hello, world" ] || fail "$what: $p consumer printed '$out'"
		rm -f "$TMP/$p"
	done
	# the static consumer needs no libshmkit.so
	unset PKG_CONFIG_PATH
}

# 1. --prefix
P="$TMP/prefix"
cmake --install "$BUILD" --prefix "$P" >/dev/null || fail "cmake --install --prefix failed"
check_prefix "$P" "prefix"

# 2. DESTDIR staging: files land under DESTDIR/PREFIX and the .pc still works
#    (it finds its prefix relative to itself).
DESTDIR="$TMP/stage" cmake --install "$BUILD" --prefix /opt/shmkit-test >/dev/null ||
	fail "DESTDIR install failed"
[ -d "$TMP/stage/opt/shmkit-test/include/shmkit" ] || fail "DESTDIR: nothing under DESTDIR/PREFIX"
[ ! -e /opt/shmkit-test ] || fail "DESTDIR: files written outside DESTDIR"
check_prefix "$TMP/stage/opt/shmkit-test" "DESTDIR"

# 3. the exported symbols and the SONAME
SO=$(find "$P" -name 'libshmkit.so.0' | head -1)
syms=$(nm -D --defined-only "$SO" | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}')
bad=$(echo "$syms" | grep -v '^shmkit_')
[ -z "$bad" ] || fail "exported symbols outside shmkit_*: $(echo $bad | head -c 300)"
echo "$syms" | grep -qx 'shmkit_version' || fail "shmkit_version not exported"
readelf -d "$SO" | grep 'SONAME.*\[libshmkit.so.0\]' >/dev/null || fail "SONAME is not libshmkit.so.0"

# 3b. no test code ships: the installed library and CLI, and the bench, have no
#     pause hooks (they live only in the tests' copy of the library), so the
#     variable that arms them is not even in the binaries and has no effect.
for bin in "$SO" "$P/lib"*/libshmkit.a "$P/bin/shmkit" "$BUILD/bench/shmkit-bench"; do
	[ -e "$bin" ] || continue
	if grep -qa 'SHMKIT_TEST_PAUSE' "$bin" || nm -a "$bin" 2>/dev/null | grep 'shmkit__test_' >/dev/null; then
		fail "$(basename "$bin") carries the test pause hooks"
	fi
done
U="posix:/shmkit-test-$$-install-hook"
# (a hooked build would stop itself at these points; timeout then kills it)
SHMKIT_TEST_PAUSE=managed.init timeout -s KILL 20 "$P/bin/shmkit" map "$U" create 32K >/dev/null 2>&1 &&
	SHMKIT_TEST_PAUSE=map.put.inline.1 timeout -s KILL 20 "$P/bin/shmkit" map "$U" put a b >/dev/null 2>&1
st=$?
"$P/bin/shmkit" rm "$U" >/dev/null 2>&1
[ $st = 0 ] || fail "installed shmkit map create/put with SHMKIT_TEST_PAUSE set: exit $st"

# 4. the CMake package
mkdir -p "$TMP/cm"
cp "$TMP/consumer.c" "$TMP/cm/consumer.c"
cat >"$TMP/cm/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(shmkit 0.1 REQUIRED)
add_executable(consumer consumer.c)
target_compile_options(consumer PRIVATE ${SAN[*]})
target_link_options(consumer PRIVATE ${SAN[*]})
target_link_libraries(consumer PRIVATE shmkit::shmkit)
CM
if cmake -S "$TMP/cm" -B "$TMP/cm/build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="$M32" >"$TMP/cm.log" 2>&1 &&
	cmake --build "$TMP/cm/build" >>"$TMP/cm.log" 2>&1; then
	out=$(LD_LIBRARY_PATH="$(dirname "$SO")" "$TMP/cm/build/consumer") || fail "CMake consumer failed"
	[ "$out" = "hello, world" ] || fail "CMake consumer printed '$out'"
else
	fail "find_package(shmkit) consumer does not build: $(tail -5 "$TMP/cm.log")"
fi

echo "test_install: $FAILS failure(s)"
[ "$FAILS" = 0 ]
