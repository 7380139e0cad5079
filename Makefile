# oomgpu: see README.md. Every target installs what it needs first.
PYTHON ?= python3
# Scenario names or globs, e.g. make test S='oom-*'
S ?=
# The kernel base: 7.3 (default) or 6.12 (the LTS).
BASE ?=
# The platform: uml, x86_64 or x86_64-kasan (QEMU); unset: as the command
# and the catalogue say.
P ?=
# A flavour: make show F=baseline
F ?=
PLATFORM_ARG = $(if $(P),--platform $(P))
RUNNER  = PYTHONPATH=$(CURDIR)/runner $(PYTHON) -m oomgpu \
	$(if $(KSRC),--ksrc $(KSRC))
ONE_BASE = $(if $(BASE),--base $(BASE))
# make check: every base unless BASE= or KSRC= names one
ALL_BASES = $(if $(KSRC)$(BASE),$(ONE_BASE),--base 7.3 --base 6.12)

.PHONY: all help run test check bench kunit kernel rootfs deps list show \
	runner-check patches-check outgoing kunit-x86 clean

all: test

help:
	@echo 'oomgpu: the OOM reaper reaps around busy GPU ranges (README.md)'
	@echo
	@echo '  make test          the quick tier (about 30 min cold, 10 warm):'
	@echo '                     each claim once on 7.3; ends "N passed, N failed"'
	@echo '  make check         the whole matrix (what a maintainer runs before'
	@echo '                     posting): both bases, every scenario and platform,'
	@echo '                     bisect and module builds, KASAN, kunit.py everywhere'
	@echo '  make run           the main job: what the reaper took back, baseline'
	@echo '                     against patched, one table (docs/results.md)'
	@echo '  make bench         what the series costs (docs/bench.md)'
	@echo '  make patches-check checkpatch, get_maintainer, git am, bisect builds'
	@echo '  make outgoing      posting-ready series in build/outgoing/ (never sends)'
	@echo '  make kunit         the KUnit suites with kunit.py (UML, x86_64)'
	@echo '  make kunit-x86     the OOM series KUnit suite on x86_64 under QEMU'
	@echo '  make show S=NAME   one scenario, console on screen (F=baseline P=x86_64)'
	@echo '  make list          the scenario catalogue'
	@echo '  make kernel        build the kernels; make rootfs: the initramfs'
	@echo '  make runner-check  the runner'"'"'s own unit tests'
	@echo '  make deps          install the Debian packages needed (as root)'
	@echo '  make clean         drop build output (keeps sources and ccache)'
	@echo
	@echo 'Variables: S=glob (scenarios)  BASE=7.3|6.12  P=uml|x86_64|x86_64-kasan'
	@echo '           F=baseline|patched  KSRC=~/linux (your kernel git tree)'

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

# The quick tier: each claim once (tests/scenarios.toml's "test" key), the
# series of every base checked without builds, kunit.py on UML; with S=,
# only those scenarios (the inner loop). Ends with "N passed, N failed".
test: deps runner-check
	$(RUNNER) $(ONE_BASE) test $(PLATFORM_ARG) $(S)

# The whole matrix (what make test ran before the quick tier): on 7.3 every
# scenario of the test groups on UML, the smoke, self-check, kselftest and
# reproducing ones on x86_64 and the KASAN kernel, the experiment flavours;
# on 6.12 the smoke and reproducing ones; every series with a build after
# every patch, emugpu=m; kunit.py on UML (the shipped .kunitconfig files
# alone too) and on x86_64.
check: deps runner-check
	$(RUNNER) $(ALL_BASES) check $(PLATFORM_ARG) $(S)

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
# kunit.py: the OOM series' and emugpu's on UML, the OOM series' on x86_64
# under QEMU; patched must pass, baseline must fail the partial-reap cases.
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
	rm -rf build/*/src/*/.oomgpu-out-* build/*/ksrc-src/*/.oomgpu-out-* \
		build/*/linux/.oomgpu-out-* build/tests build/initramfs.cpio.gz
