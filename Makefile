# Thin entry points; CMake does the building. See README.md.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps build run test test-c test-e2e test-lua asan clean

deps:
	./.ci/deps

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The demo needs no browser: skip installing chromium for it.
run:
	YOLK_BROWSER_TESTS=0 ./.ci/deps
	$(MAKE) build
	./$(BUILD)/yolk start --baseDir . --port 7001

test: deps
	./.ci/test

clean:
	rm -rf $(BUILD) build-asan
