# oomgpu: see README.md. Every target installs what it needs first.
PYTHON ?= python3
RUNNER  = PYTHONPATH=$(CURDIR)/runner $(PYTHON) -m oomgpu $(if $(KSRC),--ksrc $(KSRC))
# Scenario names or globs, e.g. make test S='oom-*'
S ?=

.PHONY: all run test kunit kernel rootfs deps list show runner-check \
	patches-check clean

all: test

deps:
	@$(RUNNER) deps

kernel: deps
	$(RUNNER) kernel

rootfs: deps
	$(RUNNER) rootfs

list:
	@$(RUNNER) list

# The main job: OOM scenarios on every flavour, one table.
run: deps
	$(RUNNER) run $(if $(S),,--docs $(CURDIR)/docs) $(S)

# Everything with assertions; ends with "N passed, N failed".
test: deps runner-check patches-check
	$(RUNNER) test $(S)

# Every series ready to mail: checkpatch --strict, get_maintainer.pl,
# git am onto the base, and a build after every patch.
patches-check: deps
	$(RUNNER) patches-check

kunit: deps
	$(RUNNER) kunit

# One scenario with its console on screen: make show S=oom-smoke F=baseline
show: deps
	$(RUNNER) show $(S) $(if $(F),--flavour $(F))

# The runner's own unit tests, against golden logs.
runner-check:
	cd runner && $(PYTHON) -m unittest discover -s tests -t . -q

clean:
	rm -rf build/out build/tests build/initramfs.cpio.gz
