"""The KUnit suites with the kernel's own kunit.py on UML, as a KernelCI
KUnit job runs them: `kunit.py run --kunitconfig=mm/tests
--kunitconfig=drivers/gpu/drm/emugpu` (UML is kunit.py's default
architecture), the OOM series' suite and emugpu's in one kernel.

Two builds of each variant. `make test`: kunit.py builds in the output
directory of the UML flavour of the same name, with the flavour's .config
as a third --kunitconfig, so it finds that kernel built and compiles
nothing (the two kunitconfigs are checked to be in it). `make check` also:
the two shipped .kunitconfig files alone on kunit.py's own UML defaults,
as a KernelCI KUnit job builds them (kunit-um-<variant>, in the variant's
source tree, so ccache shares what it can). The runner boots each with the arguments kunit.py exec gives it,
its console into a file (see execute()), and reads the KTAP with its own
parser, because a variant may be required to fail some cases and
kunit.py's exit status cannot say which.

Variants, as on x86_64 but without the THP experiment (UML has no THP):
  patched   the fix and the series: every case passes; the THP case skips;
  baseline  the KUnit harness and the test patch: the old reaper fails the
            partial-reap cases (the bug); emugpu's suite still passes.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from .kbuild import DRIVER_DIR, Tree
from .kunit_x86 import Result, Variant, judge, run_variants, \
    variants as x86_variants
from .platforms import UML
from .uml import kill_group

KUNITCONFIGS = ('mm/tests', DRIVER_DIR)
SUITES = ('oom_reap', 'emugpu')
# UML has no transparent huge pages: the case says so and skips.
MAY_SKIP = ('oom_reap_thp_no_split',)
# A run of both suites took seconds; this only bounds a hung kernel.
EXEC_TIMEOUT = 600
# What kunit.py exec passes a UML kernel (tools/testing/kunit/kunit.py)
KUNIT_PY_UML_ARGS = ('kunit.enable=1', 'mem=1G', 'console=tty',
                     'kunit_shutdown=halt')


def variants(tree: Tree) -> list[Variant]:
    return [Variant(v.name, v.series,
                    tuple(c for c in v.expect_fail if c not in MAY_SKIP))
            for v in x86_variants(tree) if v.name in ('patched', 'baseline')]


BUILD_ARGS = tuple(f'--kunitconfig={k}' for k in KUNITCONFIGS)


def execute(wt: Path, image: Path, extra: tuple[str, ...] = ()
            ) -> tuple[str, list[str]]:
    """Boots @image as `kunit.py exec` does, with its arguments, but with
    the console written to a file. Through kunit.py's pipe UML's line
    driver drops what the pipe cannot take at once: of the 2524 lines the
    baseline kernel prints (its failing cases explain every page), 1000
    never arrived, with the ends of four cases among them. @extra: what
    the kernel needs besides (a flavour's SMP UML: seccomp=on ncpus=2)."""
    with tempfile.TemporaryFile('w+', errors='replace') as console:
        proc = subprocess.Popen([str(image), *KUNIT_PY_UML_ARGS, *extra],
                                cwd=wt,
                                stdin=subprocess.DEVNULL, stdout=console,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=EXEC_TIMEOUT)
            note = []
        except subprocess.TimeoutExpired:
            # UML forks a host process per address space: kill them all.
            kill_group(proc)
            note = [f'# oomgpu: killed after {EXEC_TIMEOUT} s\n']
        console.seek(0)
        return 'uml', console.readlines() + note


def run_all(tree: Tree, results: Path, shipped: bool = False
            ) -> list[Result]:
    """The variants on the flavours' kernels; with @shipped, also each
    built from the shipped .kunitconfig files alone."""
    def judge_one(v: Variant, docs: list) -> list[str]:
        return judge(v, docs, SUITES, MAY_SKIP)
    def flavour_boot(wt: Path, image: Path) -> tuple[str, list[str]]:
        return execute(wt, image, tree.base.boot_args)
    out = run_variants(tree, results, 'um', variants(tree), BUILD_ARGS,
                       Path('linux'), flavour_boot, judge_one, UML)
    if shipped:
        alone = [Variant(f'{v.name}-shipped', v.series, v.expect_fail,
                         v.name) for v in variants(tree)]
        out += run_variants(tree, results, 'um', alone, BUILD_ARGS,
                            Path('linux'), execute, judge_one)
    return out
