# Thin wrapper over Meson + Ninja.  `make run` boots the memtest guest on
# 1 GiB of guest_memfd memory; `make check` runs every test.
BUILD      ?= build
ASAN_BUILD ?= build-asan
CLANG_BUILD ?= build-clang
MESON_TEST  = meson test --print-errorlogs --num-processes 1

.PHONY: all deps run check check-asan check-clang bench clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	scripts/deps.sh check
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	scripts/deps.sh check
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

$(CLANG_BUILD)/build.ninja:
	scripts/deps.sh check
	CC=clang meson setup $(CLANG_BUILD)

# The tree must build with both compilers under -Werror; the tests run in
# the gcc builds.
check-clang: $(CLANG_BUILD)/build.ninja
	ninja -C $(CLANG_BUILD)

deps:
	scripts/deps.sh check

run: all
	$(BUILD)/gmvm run --memory size=1G $(BUILD)/guests/memtest.elf

check: all
	$(MESON_TEST) -C $(BUILD)
	@scripts/test-summary.sh $(BUILD)

check-asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	$(MESON_TEST) -C $(ASAN_BUILD)
	@scripts/test-summary.sh $(ASAN_BUILD)

# The KVM suites on a machine without /dev/kvm: nested VMs (two, side by side) under QEMU's
# software emulation, set up in build-nested/ (scripts/nested-kvm/README.md).
.PHONY: check-nested
check-nested: all
	scripts/nested-kvm/check.sh $(BUILD)

# A real Linux: Debian's 6.1 cloud kernel and busybox-static (apt-get
# download, once, into $(BUILD)/linux-cache), an initramfs that loads the
# virtio modules and reads a virtio-blk disk, booted under gmvm; in the nested
# rig where there is no /dev/kvm.  Prints how long each milestone took and
# where it stopped (scripts/linux/run.sh).
.PHONY: check-linux
check-linux: all
	scripts/linux/check.sh $(BUILD)

bench: all
	scripts/deps.sh bench
	bench/run.sh

# make bench on a machine without /dev/kvm: the same bench inside the nested
# KVM VM (scripts/nested-kvm/bench.sh has the knobs); under TCG only the
# ratios between gmvm and QEMU mean something.
.PHONY: bench-nested
bench-nested: all
	BUILD=$(BUILD) scripts/nested-kvm/bench.sh

# libFuzzer over every parser of outside input (tests/fuzz): a clang build in
# $(FUZZ_BUILD), each target FUZZ_TIME seconds (default 300), FUZZ_JOBS (2)
# side by side, on a copy of its corpus; fails naming the target and the
# crash file (scripts/fuzz.sh).  FUZZ_TARGETS="elf api" picks some.
# make fuzz-merge: the same, then new inputs that reach new coverage are
# merged into tests/fuzz/corpus/ (to commit).
FUZZ_BUILD ?= build-fuzz
.PHONY: fuzz fuzz-merge
fuzz:
	BUILD_FUZZ=$(FUZZ_BUILD) scripts/fuzz.sh

fuzz-merge:
	BUILD_FUZZ=$(FUZZ_BUILD) scripts/fuzz.sh --merge

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(CLANG_BUILD)
