# Thin entry points; CMake does the building. See README.md.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build run test bench clean

deps:
	./.ci/deps

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The demo needs no browser (nor clang for the fuzzers): skip installing them for it.
run:
	YOLK_BROWSER_TESTS=0 YOLK_FUZZ_TESTS=0 ./.ci/deps
	$(MAKE) build
	./$(BUILD)/yolk start --baseDir . --port 7001

test: deps
	./.ci/test

# Release build in build-release/, then yolk vs Node socket.io (see bench/README.md); options
# go in BENCH_ARGS, e.g. make bench BENCH_ARGS='--phases echo1,ack'.
bench:
	YOLK_BROWSER_TESTS=0 YOLK_FUZZ_TESTS=0 ./.ci/deps
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build-release -j $(JOBS)
	node bench/run.mjs --yolk build-release/yolk $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) build-asan build-release build-fuzz
