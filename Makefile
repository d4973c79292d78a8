# peerwatch: a thin wrapper around CMake so each user-facing step is one
# command on a fresh machine. `make test` and `make demo` install missing
# build dependencies first (see deploy/deps.sh).

BUILD      ?= build
BUILD_ASAN ?= build-asan
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
WERROR     ?= $(if $(CI),ON,OFF)

.PHONY: all build asan deps test test-unit test-repeat demo install deb clean format bench

all: build

deps:
	@sh deploy/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DPW_WERROR=$(WERROR) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS)

$(BUILD_ASAN)/CMakeCache.txt:
	cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DPW_SANITIZE=ON \
	    -DPW_WERROR=$(WERROR) $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

asan: $(BUILD_ASAN)/CMakeCache.txt
	cmake --build $(BUILD_ASAN) -j $(JOBS)

# Every unit and integration test, in the normal build and again in the
# AddressSanitizer + UBSan build.
test: deps
	@$(MAKE) --no-print-directory build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(BUILD_ASAN) && ctest --output-on-failure -j $(JOBS)

# The whole suite N times in a row, in a fresh clone of HEAD (tests/repeat.sh)
N ?= 10
test-repeat: deps
	@bash tests/repeat.sh $(N)

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

demo: deps
	@$(MAKE) --no-print-directory build
	@bash deploy/demo.sh $(BUILD)/peer/peerwatch

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# build/peerwatch_<version>-1_<arch>.deb (cmake/package.cmake); then lintian
deb: build
	cd $(BUILD) && cpack -G DEB
	@command -v lintian >/dev/null && lintian --tag-display-limit 0 $(BUILD)/peerwatch_*.deb || true

bench: build
	@echo "benchmarks (not part of make test; see bench/README.md):"
	@echo "  bench/detect, bench/lossy, bench/revive, bench/ollama-proxy"

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)
