# A thin driver over CMake + Ninja + CTest. See README.md.
BUILD      ?= build
TEST_BUILD ?= build-test
SIZE       ?= small

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

format:
	@find src gen tests -name '*.[ch]' | xargs clang-format -i --style=file

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
