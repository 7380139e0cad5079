# oomgpu: see README.md. Every target installs what it needs first.
PYTHON ?= python3
# Scenario names or globs, e.g. make test S='oom-*'
S ?=
# The kernel base: 7.3 (default) or 6.12 (the LTS). `make test` checks both
# unless BASE= or KSRC= names one.
BASE ?=
# The platform: uml or x86_64 (QEMU); unset: every one the base has.
P ?=
PLATFORM_ARG = $(if $(P),--platform $(P))
RUNNER  = PYTHONPATH=$(CURDIR)/runner $(PYTHON) -m oomgpu \
	$(if $(KSRC),--ksrc $(KSRC))
ONE_BASE = $(if $(BASE),--base $(BASE))
# make test: every scenario on 7.3, the smoke and reproducing ones on 6.12,
# and the KUnit suites with the kernel's kunit.py: on UML, and the OOM
# series' on x86_64 under QEMU (THP)
TEST_BASES = $(if $(KSRC)$(BASE),$(ONE_BASE),--base 7.3 --base 6.12)

.PHONY: all run test bench kunit kernel rootfs deps list show runner-check \
	patches-check outgoing kunit-x86 clean

all: test

deps:
	@$(RUNNER) deps

kernel: deps
	$(RUNNER) $(ONE_BASE) kernel

rootfs: deps
	$(RUNNER) $(ONE_BASE) rootfs

list:
	@$(RUNNER) list

# The main job: OOM scenarios on every flavour, one table.
run: deps
	$(RUNNER) $(ONE_BASE) run $(PLATFORM_ARG) $(if $(S),,--docs $(CURDIR)/docs$(if $(BASE),/$(BASE))) $(S)

# What the series costs: the bench scenarios on both flavours, TRIALS boots
# each, min / median / max (results/<timestamp>/bench.{md,json}, docs/).
TRIALS ?= 3
bench: deps
	$(RUNNER) $(ONE_BASE) bench --trials $(TRIALS) $(if $(S),,--docs $(CURDIR)/docs$(if $(BASE),/$(BASE))) $(S)

# Everything with assertions; ends with "N passed, N failed".
test: deps runner-check
	$(RUNNER) $(TEST_BASES) patches-check
	$(RUNNER) $(TEST_BASES) test --kunit-uml --kunit-x86 $(PLATFORM_ARG) $(S)

# Every series ready to mail: checkpatch --strict, get_maintainer.pl,
# git am onto the base, and a build after every patch.
patches-check: deps
	$(RUNNER) $(ONE_BASE) patches-check

# Posting-ready copies of the series under build/outgoing/<base>/ with your
# git identity as From: and Signed-off-by: and To/Cc from get_maintainer.pl.
# Never sends.
outgoing: deps
	$(RUNNER) $(ONE_BASE) outgoing

# The KUnit suites as a KernelCI KUnit job runs them, with the kernel's own
# kunit.py: the OOM series' and emugpu's on UML (kunit.py run
# --kunitconfig=mm/tests --kunitconfig=drivers/gpu/drm/emugpu), the OOM
# series' on x86_64 under QEMU; patched must pass, baseline must fail the
# partial-reap cases.
kunit: deps
	$(RUNNER) $(ONE_BASE) kunit

# The OOM series' KUnit suite on x86_64 under QEMU (THP, which UML lacks):
# patched, baseline, and the series without its huge page handling.
kunit-x86: deps
	$(RUNNER) $(ONE_BASE) kunit-x86

# One scenario with its console on screen: make show S=oom-smoke F=baseline
# (P=x86_64: under QEMU)
show: deps
	$(RUNNER) $(ONE_BASE) show $(S) $(if $(F),--flavour $(F)) $(PLATFORM_ARG)

# The runner's own unit tests, against golden logs.
runner-check:
	cd runner && $(PYTHON) -m unittest discover -s tests -t . -q

clean:
	rm -rf build/*/linux/.oomgpu-out-* build/*/ksrc-src/work/.oomgpu-out-* \
		build/tests build/initramfs.cpio.gz
