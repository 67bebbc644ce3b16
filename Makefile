# SPDX-License-Identifier: MIT
# shmkit — the README's two commands, `make demo` and `make test`, and friends.
# This wraps CMake; on a fresh Debian machine it installs what the build needs.

PREFIX ?= /usr/local
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# extra ctest flags for every suite run (e.g. CTEST_FLAGS="--repeat until-fail:3")
CTEST_FLAGS ?=
CMAKE_FLAGS ?=

.PHONY: all deps build test test-normal test-asan demo install uninstall valgrind bench \
	bench-deps bench-plot format clean check-all check-deps check-clang check-tsan check-m32 fuzz fuzz-build fuzz-merge fuzz-seeds \
	fuzz-afl fuzz-afl-build fuzz-compare

all: build

# Tools the build and tests need: install any that are missing (Debian, as root).
deps:
	@bash .ci/deps.sh

# A new build tree is RelWithDebInfo; a configured one keeps its own type, so
# `make install` after `cmake -B build -DCMAKE_BUILD_TYPE=Debug` neither
# re-configures nor rebuilds it (tests/test_make_install.sh).
BUILD_TYPE_FLAG = $(if $(wildcard $(BUILD)/CMakeCache.txt),,-DCMAKE_BUILD_TYPE=RelWithDebInfo)

build: deps
	cmake -S . -B $(BUILD) $(BUILD_TYPE_FLAG) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The whole suite, then again under AddressSanitizer + UndefinedBehaviorSanitizer.
test: test-normal test-asan
	@bash .ci/leakcheck.sh

test-normal: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSHMKIT_SANITIZE=ON \
		-DSHMKIT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# ---- the slow axes: `make check-all` (CI runs it after `make test`) ----
# clang: the whole suite built by clang. ThreadSanitizer: the suites whose
# process has several threads using the objects (TSAN_TESTS, below). i386
# (-m32): the whole suite as 32-bit programs — layouts, and the crash and
# hostile suites with the test-only pause-hook library built for i386 too —
# then tests/test_m32.sh: an i386 and an x86-64 process share queues, topics
# and a map.
CLANG_BUILD ?= build-clang
TSAN_BUILD ?= build-tsan
M32_BUILD ?= build-m32
# clang and i386 print their own warnings; CHECK_WERROR=ON makes them fatal
# (on: CI fails on a warning either compiler finds; CHECK_WERROR=OFF to look past one)
CHECK_WERROR ?= ON
# i386 runs every suite but these: the Python binding, Go and the README's
# blocks drive the library from 64-bit interpreters; test_top needs an i386
# ncurses; test_cli_user creates a 1 TiB segment, a size i386 cannot name
# (`bad SIZE`, rightly); docs, licence, completion and install checks do not
# depend on the architecture; test_look_unchanged reads SysV segments through
# a 64-bit Python holder, which a 32-bit process cannot read (process_vm_readv
# takes 32-bit addresses there), so the i386 tool rightly answers "not read"
# (stat) or attaches and says so (read); test_m32 runs below, across both.
M32_SKIP ?= ^(python_.*|test_go_example|test_readme_examples|test_top|test_cli_user|test_look_unchanged|test_man_pages|test_license|test_completion|test_install|test_make_install|test_m32)$$
# ThreadSanitizer sees races between threads of one process only, so it runs
# the suites where one process has several threads in the objects: test_threads
# (MPMC, topic, heap, map, mutex), test_chaos_threads (threads while exec'd
# peers are killed -9 inside their operations: the recovery paths under
# threads), test_heap_cache (magazines with threads, exec'd peers killed), the
# sync tests. The other crash and hostile suites have one thread per process
# (their peers are other processes, or fork()ed copies TSan cannot follow once
# threads exist): TSan would check nothing ASan does not, at 5-15x the time.
TSAN_TESTS ?= ^(test_threads|test_chaos_threads|test_heap_cache|test_sync_mutex|test_sync_mutex_abi|test_sync_sem)$$

check-all: check-clang check-tsan check-m32

check-deps:
	@bash .ci/deps.sh --check-all

check-clang: deps check-deps
	cmake -S . -B $(CLANG_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DSHMKIT_BUILD_BENCH=OFF -DSHMKIT_WERROR=$(CHECK_WERROR) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(CLANG_BUILD) -j $(JOBS)
	cd $(CLANG_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

check-tsan: deps check-deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSHMKIT_TSAN=ON \
		-DSHMKIT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS) -R '$(TSAN_TESTS)'

check-m32: deps check-deps
	PKG_CONFIG_LIBDIR=/usr/lib/i386-linux-gnu/pkgconfig \
		cmake -S . -B $(M32_BUILD) -DCMAKE_C_FLAGS=-m32 -DCMAKE_CXX_FLAGS=-m32 \
		-DSHMKIT_BUILD_BENCH=OFF -DSHMKIT_WERROR=$(CHECK_WERROR) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(M32_BUILD) -j $(JOBS)
	@# a kernel built without IA32 emulation cannot exec i386 programs (126):
	@# then the build (and its warnings) and the checks of what it built
	@# (test_large_file_offsets: 64-bit file offsets) are the whole check
	@$(M32_BUILD)/shmkit --version >/dev/null 2>&1; \
	if [ $$? = 126 ]; then \
		echo "check-m32: this kernel cannot run i386 programs (no IA32 emulation): built, only the build checks run"; \
		cd $(M32_BUILD) && ctest --output-on-failure -R '^test_large_file_offsets$$'; \
	else \
		cd $(M32_BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS) -E '$(M32_SKIP)' && \
		$(MAKE) -C $(CURDIR) --no-print-directory build && \
		cd $(CURDIR)/$(BUILD) && SHMKIT_M32=$(CURDIR)/$(M32_BUILD)/shmkit \
			ctest --output-on-failure -R '^test_m32$$'; \
	fi

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

# Fuzzing with clang's libFuzzer (tests/fuzz/README.md): every harness for
# FUZZ_S seconds, FUZZ_PAR at once. `make test` only replays the corpus.
FUZZ_BUILD ?= build-fuzz
FUZZ_S ?= 60
FUZZ_PAR ?= 2
FUZZ_HARNESSES ?= queue topic heap map managed uri fdpass cli bridge
fuzz-build:
	@bash .ci/deps.sh --fuzz
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSHMKIT_SANITIZE=ON \
		-DSHMKIT_FUZZ=ON -DSHMKIT_BUILD_BENCH=OFF -DSHMKIT_WERROR=OFF \
		-DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link -O1" $(CMAKE_FLAGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_HARNESSES))

fuzz: fuzz-build
	FUZZ_PAR=$(FUZZ_PAR) bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_S) $(FUZZ_HARNESSES)

# The same harnesses under AFL++ (`afl++`, installed by .ci/deps.sh --fuzz):
# afl-clang-fast turns -fsanitize=fuzzer into AFL++'s persistent driver. Two
# builds: ASan+UBSan (the one fuzzed) and CMPLOG (afl-fuzz -c: solves compares).
# `make fuzz-afl` runs each harness FUZZ_S seconds, one at a time;
# `make fuzz-compare` runs libFuzzer and AFL++ for FUZZ_S each per harness and
# measures every resulting corpus with both engines' coverage.
AFL_BUILD ?= build-afl
AFL_CMPLOG_BUILD ?= build-afl-cmplog
AFL_CMAKE = -DCMAKE_BUILD_TYPE=Debug -DSHMKIT_FUZZ=ON -DSHMKIT_BUILD_BENCH=OFF \
	-DSHMKIT_WERROR=OFF -DCMAKE_C_FLAGS=-O1 $(CMAKE_FLAGS)
fuzz-afl-build:
	@bash .ci/deps.sh --fuzz
	CC=afl-clang-fast cmake -S . -B $(AFL_BUILD) -DSHMKIT_SANITIZE=ON $(AFL_CMAKE) >/dev/null
	AFL_QUIET=1 cmake --build $(AFL_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_HARNESSES))
	CC=afl-clang-fast AFL_LLVM_CMPLOG=1 cmake -S . -B $(AFL_CMPLOG_BUILD) $(AFL_CMAKE) >/dev/null
	AFL_QUIET=1 AFL_LLVM_CMPLOG=1 cmake --build $(AFL_CMPLOG_BUILD) -j $(JOBS) \
		--target $(addprefix fuzz_,$(FUZZ_HARNESSES))

fuzz-afl: fuzz-afl-build
	AFL_CMPLOG_BUILD=$(AFL_CMPLOG_BUILD) bash tests/fuzz/afl.sh $(AFL_BUILD) $(FUZZ_S) $(FUZZ_HARNESSES)

fuzz-compare: fuzz-build fuzz-afl-build
	bash tests/fuzz/compare.sh $(FUZZ_BUILD) $(AFL_BUILD) $(AFL_CMPLOG_BUILD) $(FUZZ_S) $(FUZZ_HARNESSES)

# Folds what `make fuzz` found into the committed corpus, minimized (-merge=1):
# the named inputs (seed-*, regress-*) stay; found ones are added only where
# they reach code the corpus does not.
fuzz-merge: fuzz-build
	@for h in $(FUZZ_HARNESSES); do \
		c=tests/fuzz/corpus/$$h; rm -rf $$c.new && mkdir -p $$c.new $(FUZZ_BUILD)/corpus/$$h && \
		cp $$c/seed-* $$c/regress-* $$c.new/ 2>/dev/null; \
		$(FUZZ_BUILD)/tests/fuzz/fuzz_$$h -merge=1 $$c.new $$c $(FUZZ_BUILD)/corpus/$$h \
			>$(FUZZ_BUILD)/merge-$$h.log 2>&1 && \
		rm -rf $$c && mv $$c.new $$c && echo "fuzz-merge $$h: $$(ls $$c | wc -l) inputs" || exit 1; \
	done

# Rewrites the seed images from the create calls of this build.
fuzz-seeds: build
	$(BUILD)/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus

# Benchmarks: peers (Boost, iceoryx, gnuplot) are installed when missing.
bench-deps:
	@bash .ci/deps.sh --bench

bench: bench-deps build
	$(BUILD)/bench/shmkit-bench all
	SHMKIT_LIBRARY=$(CURDIR)/$(BUILD)/libshmkit.so python3 python/bench.py

# Figures (one per question) in bench/out; `make bench-plot IMG=docs/img` also
# writes the SVGs the README shows there. PLOT_JSON=file plots an earlier run.
bench-plot: bench-deps build
	@mkdir -p bench/out
	$(if $(PLOT_JSON),cp $(PLOT_JSON) bench/out/bench.json,$(BUILD)/bench/shmkit-bench all --json > bench/out/bench.json)
	@bash bench/plot.sh bench/out/bench.json bench/out $(IMG)

format:
	clang-format -i src/*.c src/*.h src/backend/*.c include/*.h include/shmkit/*.h tools/*.c \
		tests/*.c tests/*.h examples/*.c bench/*.c bench/*.h 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(VALGRIND_BUILD) $(FUZZ_BUILD) $(AFL_BUILD) $(AFL_CMPLOG_BUILD) bench/out
