# Thin user entry over Meson + Ninja. See README.md.
#   make check   the test suite three ways: debug (validator on), ASan+UBSan, TSan;
#                first a compile of everything in a release build without the
#                validator, warnings as errors (build-relcheck; no tests run)
#   make build   the debug build only
#   make release an optimised build without the validator
#   make stress  the long runs: 10M model operations, H1 and memory-limit tests,
#                2000 vol crash points, 1M model operations on vol, the cluster
#                coherence checker (3 nodes x 10000 operations, twice)
#   make bench   benchmarks against the kernel from a release build (BENCH_BUILD,
#                default build-release) -> bench/results/RESULTS.md and plots
#   make run     install what is missing, build, make ./pagecache.img (1 GiB,
#                sparse) if absent and mount it at ./mnt in the foreground
#   make format  clang-format every C file
MESON ?= meson
JOBS  ?= $(shell nproc)

.PHONY: all build release check stress bench deps format clean run

all: build

deps:
	@scripts/deps.sh

build-debug/build.ninja: | deps
	$(MESON) setup build-debug -Dbuildtype=debug >/dev/null

build-asan/build.ninja: | deps
	$(MESON) setup build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

build-tsan/build.ninja: | deps
	$(MESON) setup build-tsan -Dbuildtype=debug -Doptimization=1 -Db_sanitize=thread -Db_lundef=false >/dev/null

build-relcheck/build.ninja: | deps
	$(MESON) setup build-relcheck -Dbuildtype=release -Dvalidator=false -Dwerror=true >/dev/null

build-release/build.ninja: | deps
	$(MESON) setup build-release -Dbuildtype=release -Dvalidator=false >/dev/null

build: build-debug/build.ninja
	ninja -C build-debug -j$(JOBS)

release: build-release/build.ninja
	ninja -C build-release -j$(JOBS)

check: deps build-relcheck/build.ninja build-debug/build.ninja build-asan/build.ninja build-tsan/build.ninja
	@scripts/check.sh compile:build-relcheck build-debug build-asan build-tsan

stress: build
	PC_MODEL_OPS=$${PC_MODEL_OPS:-10000000} build-debug/tests/api/test_model
	build-debug/tests/api/test_h1
	build-debug/tests/api/test_memlimit
	PC_CRASH_POINTS=$${PC_CRASH_POINTS:-2000} build-debug/tests/api/test_vol_crash
	PC_MODEL_STORE=vol PC_MODEL_OPS=$${PC_MODEL_VOL_OPS:-1000000} build-debug/tests/api/test_model_vol
	@if [ -x build-debug/tests/cluster/test_coherence ]; then \
		echo "PC_COH_OPS=$${PC_COH_OPS:-10000} build-debug/tests/cluster/test_coherence three_nodes three_nodes_reopen"; \
		PC_COH_OPS=$${PC_COH_OPS:-10000} build-debug/tests/cluster/test_coherence three_nodes three_nodes_reopen; \
	else echo "cluster coherence: not built (no ZooKeeper C client): skipped"; fi

BENCH_BUILD ?= build-release
bench: deps
	@[ -f $(BENCH_BUILD)/build.ninja ] || $(MESON) setup $(BENCH_BUILD) -Dbuildtype=release -Dvalidator=false >/dev/null
	ninja -C $(BENCH_BUILD) -j$(JOBS)
	bench/run.sh $(BENCH_BUILD)

run:
	@scripts/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build-debug build-asan build-tsan build-release build-relcheck
