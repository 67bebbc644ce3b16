# shmkit — the README's two commands, `make demo` and `make test`, and friends.
# This wraps CMake; on a fresh Debian machine it installs what the build needs.

PREFIX ?= /usr/local
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps build test test-normal test-asan demo install uninstall valgrind bench \
	bench-deps bench-plot format clean

all: build

# Tools the build and tests need: install any that are missing (Debian, as root).
deps:
	@bash .ci/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-normal test-asan
	@bash .ci/leakcheck.sh

test-normal: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSHMKIT_SANITIZE=ON \
		-DSHMKIT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# A short live tour of shmkit on this machine; cleans up after itself.
demo: build
	@bash examples/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The suite under valgrind memcheck (slow; not part of `make test`), in its own
# build tree with every timeout x10. Shell tests run the shmkit tool itself under
# valgrind too (SHMKIT_UNDER_VALGRIND). VALGRIND_TESTS=regex picks tests.
VALGRIND_BUILD ?= build-valgrind
VALGRIND_TESTS ?= .
valgrind: deps
	@command -v valgrind >/dev/null || { echo "shmkit: installing valgrind for make valgrind"; \
		apt-get install -y --no-install-recommends valgrind; }
	cmake -S . -B $(VALGRIND_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMKIT_BUILD_BENCH=OFF \
		-DSHMKIT_TIMEOUT_SCALE=10 -DMEMORYCHECK_COMMAND=$$(command -v valgrind) \
		-DMEMORYCHECK_SUPPRESSIONS_FILE=$(CURDIR)/tests/valgrind.supp $(CMAKE_FLAGS) >/dev/null
	cmake --build $(VALGRIND_BUILD) -j $(JOBS)
	cd $(VALGRIND_BUILD) && SHMKIT_UNDER_VALGRIND=1 ctest -R '$(VALGRIND_TESTS)' --output-on-failure -T memcheck \
		--overwrite MemoryCheckCommandOptions="--leak-check=full --error-exitcode=1 --trace-children=no"

# Benchmarks: peers (Boost, iceoryx, gnuplot) are installed when missing.
bench-deps:
	@bash .ci/deps.sh --bench

bench: bench-deps build
	$(BUILD)/bench/shmkit-bench all

bench-plot: bench-deps build
	@mkdir -p bench/out
	$(BUILD)/bench/shmkit-bench all --json > bench/out/bench.json
	@bash bench/plot.sh bench/out/bench.json bench/out

format:
	clang-format -i src/*.c src/*.h src/backend/*.c include/*.h include/shmkit/*.h tools/*.c \
		tests/*.c tests/*.h examples/*.c bench/*.c bench/*.h 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(VALGRIND_BUILD) bench/out
