# A thin driver over CMake + Ninja + CTest. See README.md.
BUILD      ?= build
TEST_BUILD ?= build-test
SIZE       ?= small
FUZZ_BUILD     ?= build-fuzz
FUZZ_SECONDS   ?= 60
VALGRIND_BUILD ?= build-valgrind

.PHONY: all build test demo bench format valgrind fuzz clean

all: build

build:
	@scripts/deps.sh build
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test:
	@scripts/deps.sh build test
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
	  -DCPS_SANITIZE=ON -DCPS_WERROR=ON >/dev/null
	@cmake --build $(TEST_BUILD)
	cd $(TEST_BUILD) && ctest --output-on-failure -j2 $(CTEST_ARGS)

demo: build
	@scripts/deps.sh build demo
	@scripts/demo.sh $(BUILD)

bench: build
	@scripts/deps.sh build bench
	@bench/run.sh $(BUILD) $(SIZE)

# The libFuzzer targets of tests/fuzz (clang, ASan+UBSan): each fuzzes for
# FUZZ_SECONDS from its seed corpus; any crash, leak, UB or broken property fails.
fuzz:
	@scripts/deps.sh build fuzz
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCPS_FUZZ=ON -DCPS_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build $(FUZZ_BUILD) --target fuzzers
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz -j2 $(CTEST_ARGS)

# Unit tests and integration tests (VALGRIND_TESTS, default: scripts/valgrind.sh's
# list; "all" for every one) of a plain -O1 -g build, with cps under valgrind memcheck.
valgrind:
	@scripts/deps.sh build test valgrind
	@cmake -S . -B $(VALGRIND_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
	  >/dev/null
	@cmake --build $(VALGRIND_BUILD)
	scripts/valgrind.sh $(VALGRIND_BUILD) $(VALGRIND_TESTS)

format:
	@find src gen tests -name '*.[ch]' | xargs clang-format -i --style=file

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) $(VALGRIND_BUILD)
