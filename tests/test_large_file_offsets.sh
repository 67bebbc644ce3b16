#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every file call of the library and the CLI takes 64-bit offsets. Built for
# i386 without _FILE_OFFSET_BITS=64, stat/open/mmap/ftruncate/pread/lseek
# are the 32-bit-offset calls: `shmkit rm file:/big` (and stat, ls, read) of
# a file over 2 GiB failed with EOVERFLOW ("Value too large for defined data
# type"). This machine may not run i386 programs (no IA32 emulation), so the
# built programs' imports are checked instead: with large-file support glibc
# routes each of these calls to its ...64 variant, and none of the plain
# 32-bit ones may be imported. A 64-bit build has one kind of each: nothing
# to check there (0 failures). `make check-m32` runs this test even where its
# programs cannot run.
. "$(dirname "${BASH_SOURCE[0]}")/cli_lib.sh"

command -v nm >/dev/null && command -v readelf >/dev/null ||
	{ echo "test_large_file_offsets: needs nm and readelf (skipped)"; exit 77; }
LIB=${SHMKIT_BINARY_DIR:-build}/libshmkit.so
[ -f "$LIB" ] || LIB=$(dirname "$SHMKIT")/libshmkit.so

# the calls whose plain form takes a 32-bit off_t (or struct stat/dirent
# with one) on i386
CALLS='open|fcntl|openat|creat|stat|fstat|lstat|fstatat|statfs|fstatfs|mmap|ftruncate|truncate|pread|pwrite|lseek|fallocate|posix_fallocate|readdir|fopen|getrlimit|setrlimit|prlimit|lockf|sendfile'
for f in "$SHMKIT" "$LIB"; do
	[ -f "$f" ] || { fail "$f is not built"; continue; }
	readelf -h "$f" | grep 'Class:[[:space:]]*ELF32' >/dev/null || continue
	bad=$(nm -D --undefined-only "$f" | awk '{print $2}' | sed 's/@.*//' |
		grep -Ex "($CALLS)" | sort -u | tr '\n' ' ')
	[ -z "$bad" ] || fail "$(basename "$f") imports 32-bit-offset calls: $bad(build with -D_FILE_OFFSET_BITS=64)"
done
finish test_large_file_offsets
