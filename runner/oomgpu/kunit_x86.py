"""The OOM series' KUnit suite on x86_64 under QEMU, for what UML lacks (THP).

The kernel's own tools/testing/kunit/kunit.py builds each kernel
(`kunit.py build --arch=x86_64 --kunitconfig=mm/tests` plus THP) in the
base's source tree, put in each variant's state in turn, with a build
directory per variant inside it, so ccache shares objects between the
variants and each rebuild is incremental. kunit.py's own QEMU runner tries KVM first,
and KVM inside these machines dies with an emulation error instead of
falling back, so the runner boots QEMU itself: with KVM only if a probe
boot of the same kernel printed KTAP, else TCG (which always works).

Variants, each a list of (series directory, list file) of the base:
  patched        the fix and the series: every case passes, THP included;
  baseline       the KUnit harness and the test patch: the old reaper fails
                 the partial-reap cases (the bug);
  no-thp-fix     the series without its huge page handling
                 (kernel-patches/<base>/experiments/): the THP case fails,
                 because the reaper splits the huge page with a blocking
                 invalidation. It shows the THP test can fail.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .kbuild import BuildError, Tree, log, run
from .ktap import Document, parse_log
from .qemu import QEMU

THP_CONFIG = ('CONFIG_TRANSPARENT_HUGEPAGE=y',
              'CONFIG_TRANSPARENT_HUGEPAGE_MADVISE=y')


@dataclass
class Variant:
    name: str
    series: tuple[tuple[str, str], ...]
    # what the suite must do here: 'pass', or the cases that must fail
    expect_fail: tuple[str, ...] = ()


@dataclass
class Result:
    variant: Variant
    accel: str
    seconds: float
    documents: list[Document]
    log_path: Path
    problems: list[str]
    image: Path | None = None    # the bzImage; its .config is beside


def variants(tree: Tree) -> list[Variant]:
    base = tree.base
    experiment = base.directory / 'experiments' / 'no-thp-fix'
    out = [Variant('patched', base.series['patched']),
           Variant('baseline', base.series['baseline'],
                   ('oom_reap_around_busy', 'oom_reap_thp_no_split',
                    'oom_reap_classic_refuses_no_interval'))]
    if experiment.exists():
        out.append(Variant('no-thp-fix', base.series['patched'] +
                           (('experiments', 'no-thp-fix'),),
                           ('oom_reap_thp_no_split',)))
    return out


def build(tree: Tree, wt: Path, name: str) -> Path:
    """kunit.py build of @wt for @name; returns the bzImage. Its own
    output directory (kunit-x86_64-<variant>), apart from the x86_64
    platform's (x86_64-<flavour>): the configurations differ."""
    out = tree.output_dir(wt, f'kunit-{name}')
    cmd = ['python3', 'tools/testing/kunit/kunit.py', 'build',
           '--arch=x86_64', '--kunitconfig=mm/tests',
           f'--build_dir={out.name}', '--jobs=2']
    for line in THP_CONFIG:
        cmd += ['--kconfig_add', line]
    env = {}
    if shutil.which('ccache'):
        cmd += ['--make_options', 'CC=ccache gcc']
        env = {'CCACHE_BASEDIR': str(wt), 'CCACHE_NOHASHDIR': '1'}
    start = time.monotonic()
    run(cmd, cwd=wt, env=env)
    log(f'{name}: kunit.py build in {time.monotonic() - start:.0f} s')
    return out / 'arch' / 'x86' / 'boot' / 'bzImage'


def _qemu(image: Path, accel: str, timeout: float) -> tuple[list[str], bool]:
    cmd = [QEMU, '-nodefaults', '-m', '1024', '-smp', '2', '-accel', accel,
           '-cpu', 'max', '-kernel', str(image), '-append',
           'kunit.enable=1 kunit_shutdown=poweroff console=ttyS0 panic=-1',
           '-no-reboot', '-nographic', '-serial', 'stdio',
           '-bios', 'qboot.rom']
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             errors='replace', timeout=timeout)
        return res.stdout.splitlines(keepends=True), False
    except subprocess.TimeoutExpired as err:
        out = err.stdout or ''
        if isinstance(out, bytes):
            out = out.decode('utf-8', 'replace')
        return out.splitlines(keepends=True), True


def boot(image: Path) -> tuple[str, list[str]]:
    """Runs the suite: KVM if a probe boot prints KTAP, else TCG."""
    kvm = Path('/dev/kvm')
    if kvm.exists():
        lines, _ = _qemu(image, 'kvm', 60)
        if any('KTAP version' in line for line in lines):
            return 'kvm', lines
        log('x86_64: KVM probe boot printed no KTAP; using TCG')
    lines, timed_out = _qemu(image, 'tcg', 600)
    if timed_out:
        lines.append('# oomgpu: QEMU killed after 600 s\n')
    return 'tcg', lines


def _judge(variant: Variant, docs: list[Document]) -> list[str]:
    suites = [t for d in docs for t in d.tests if t.name == 'oom_reap']
    if not suites:
        return ['the oom_reap suite did not run']
    suite = suites[0]
    failed = {c.name for c in suite.subtests if not c.status.ok}
    thp = [c for c in suite.subtests if c.name == 'oom_reap_thp_no_split']
    problems = []
    if thp and thp[0].directive.upper().startswith('SKIP'):
        problems.append(f'oom_reap_thp_no_split skipped: {thp[0].directive}')
    if not variant.expect_fail:
        problems += [f'{name} failed' for name in sorted(failed)]
    else:
        problems += [f'{name} passed; it must fail on {variant.name}'
                     for name in variant.expect_fail if name not in failed]
    return problems


def run_all(tree: Tree, results: Path) -> list[Result]:
    if not shutil.which(QEMU):
        raise BuildError(f'{QEMU} not found (Debian: qemu-system-x86)')
    base = tree.ensure_base()
    out = []
    for variant in variants(tree):
        name = f'x86_64-{variant.name}'
        wt = tree.patched_worktree(name, base,
                                   tree.patch_files(variant.series),
                                   driver=False)
        image = build(tree, wt, name)
        start = time.monotonic()
        accel, lines = boot(image)
        seconds = time.monotonic() - start
        log_path = results / 'logs' / \
            f'kunit-x86_64.{tree.base.name}-{variant.name}.log'
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(''.join(lines))
        docs = parse_log(lines)
        out.append(Result(variant, accel, seconds, docs, log_path,
                          _judge(variant, docs), image))
        log(f'x86_64 {variant.name}: {accel}, {seconds:.1f} s, '
            + ('; '.join(out[-1].problems) or 'as expected'))
    return out
