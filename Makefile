# LocalM top-level commands. `make run` and `make test` set up everything on a
# fresh Debian 12 machine: scripts/install-deps.sh installs missing packages.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_SECONDS ?= 10
CMAKE_ARGS ?=

.PHONY: all deps build run test test-unit test-asan test-fuzz fuzz install clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/localm serve

test: test-unit test-asan test-fuzz
	@echo "make test: all suites passed"

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Parsers, tokenizers and templates again under AddressSanitizer + UBSan, with
# the libFuzzer targets built in the same tree.
$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DLOCALM_FUZZ=ON -DLOCALM_CUDA=off

test-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L asan

# Each fuzz target runs FUZZ_SECONDS from its seed corpus (fuzz/corpus/NAME);
# `make fuzz FUZZ_SECONDS=300` is the long run quoted in closing notes.
test-fuzz: test-asan
	@scripts/run-fuzz.sh $(ASAN_BUILD)/bin $(FUZZ_SECONDS)

fuzz: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	scripts/run-fuzz.sh $(ASAN_BUILD)/bin $(FUZZ_SECONDS)

install: build
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
