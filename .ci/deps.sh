#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install what shmkit's build and tests need, when it is missing (Debian/apt).
# With --bench, also the benchmark peers: Boost.Interprocess, iceoryx, gnuplot.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have cmake || need+=(cmake)
have pkg-config || need+=(pkg-config)
have cc || need+=(gcc)
have c++ || need+=(g++)
have strace || need+=(strace)
have python3 || need+=(python3)
# examples/uv_subscriber.c (a topic in a libuv loop) and its test
pkg-config --exists libuv 2>/dev/null || need+=(libuv1-dev)
pkg-config --exists libzmq 2>/dev/null || need+=(libzmq3-dev)                   # shmkit bridge
/usr/bin/python3 -c "import zmq" 2>/dev/null || need+=(python3-zmq)            # bridge test's foreign client
have ip || need+=(iproute2)                                                    # bridge test's netns
[ -e /usr/include/ncurses.h ] || [ -e /usr/include/ncursesw/ncurses.h ] || need+=(libncurses-dev) # shmkit top
have tmux || need+=(tmux)                                                      # shmkit top's test
# numpy for the Python binding's zero-copy array tests (the system python3's)
[ -e /usr/lib/python3/dist-packages/numpy/__init__.py ] || need+=(python3-numpy)
if [ "${1:-}" = "--bench" ]; then
	[ -e /usr/include/boost/interprocess/ipc/message_queue.hpp ] || need+=(libboost-dev)
	[ -e /usr/include/iceoryx/v2.0.3/iceoryx_binding_c/subscriber.h ] ||
		ls /usr/include/iceoryx/*/iceoryx_binding_c/subscriber.h >/dev/null 2>&1 ||
		need+=(libiceoryx-binding-c-dev)
	have iox-roudi || need+=(iceoryx) # iox-roudi lives in the iceoryx package
	have gnuplot || need+=(gnuplot-nox)
	have go || need+=(golang-go) # examples/go and its test (skipped without it)
fi
if [ "${1:-}" = "--fuzz" ]; then # make fuzz: clang and its libFuzzer runtime
	have clang || need+=(clang)
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
		need+=(libclang-rt-dev)
	have afl-fuzz || need+=(afl++) # make fuzz-afl, make fuzz-compare
fi
# make check-all: clang, the i386 toolchain (gcc/g++-multilib; a kernel with
# IA32 emulation runs i386 programs natively, check-m32 only builds them
# where it has none), file(1) for test_m32's sanity check.
if [ "${1:-}" = "--check-all" ]; then
	have clang || need+=(clang)
	[ -e /usr/lib/gcc/x86_64-linux-gnu/"$(gcc -dumpversion 2>/dev/null)"/32/libgcc.a ] || need+=(gcc-multilib)
	[ -e /usr/lib/gcc/x86_64-linux-gnu/"$(gcc -dumpversion 2>/dev/null)"/32/libstdc++.so ] || need+=(g++-multilib)
	have file || need+=(file)
fi
[ ${#need[@]} -eq 0 ] && exit 0

echo "shmkit: installing missing build dependencies: ${need[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "shmkit: not root; please run: sudo apt-get install -y ${need[*]}" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${need[@]}"; then
	apt-get update
	apt-get install -y --no-install-recommends "${need[@]}"
fi
