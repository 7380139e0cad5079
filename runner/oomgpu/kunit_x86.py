"""The OOM series' KUnit suite on x86_64 under QEMU, for what UML lacks (THP).

The kernel's own tools/testing/kunit/kunit.py builds each kernel
(`kunit.py build --arch=x86_64 --kunitconfig=mm/tests`) in the base's
source tree, put in each variant's state in turn, with a build directory
per variant inside it. A second --kunitconfig is the x86_64 flavours' own
configuration (kernel-config/: THP, the debug set, emugpu), so the .config
kunit.py makes is the flavours' and ccache hands it their objects: a cold
`make test` compiles nothing for these kernels that it did not compile
for the x86_64 flavours and the no-thp-fix experiment flavour, where it
compiled three kernels of another configuration. The shipped
mm/tests/.kunitconfig alone, as KernelCI runs it, is built on UML
(kunit_uml). The boot filters on the oom_reap suite: the flavours'
configuration builds others in. kunit.py's own QEMU runner tries KVM
first, and KVM inside these machines dies with an emulation error instead
of falling back, so the runner boots QEMU itself: with KVM only if a probe
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
from typing import Callable

from .kbuild import BuildError, Tree, log, run
from .ktap import Document, parse_log
from .platforms import X86_64
from .qemu import QEMU
from .splat import find_splats

# Only this suite runs (kunit.filter_glob): the judged one.
SUITE = 'oom_reap'


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
    image: Path | None = None    # the kernel kunit.py built
    arch: str = 'x86_64'         # kunit.py's --arch
    build_dir: Path | None = None    # kunit.py's --build_dir (.config)
    build_args: tuple[str, ...] = ()  # kunit.py build's arguments


def variants(tree: Tree) -> list[Variant]:
    base = tree.base
    out = [Variant('patched', base.series['patched']),
           Variant('baseline', base.series['baseline'],
                   ('oom_reap_around_busy', 'oom_reap_thp_no_split',
                    'oom_reap_classic_refuses_no_interval'))]
    if base.has_experiment('no-thp-fix'):
        out.append(Variant('no-thp-fix', base.flavour_series('no-thp-fix'),
                           ('oom_reap_thp_no_split',)))
    return out


def kunit_build(tree: Tree, wt: Path, name: str, args: list[str]) -> Path:
    """kunit.py build of @wt with @args for @name, in its own output
    directory (kunit-<name>), apart from the flavours' (the
    configurations differ); returns that directory."""
    out = tree.output_dir(wt, f'kunit-{name}')
    cmd = ['python3', 'tools/testing/kunit/kunit.py', 'build',
           f'--build_dir={out.name}', '--jobs=2', *args]
    env = {}
    if shutil.which('ccache'):
        cmd += ['--make_options', 'CC=ccache gcc']
        env = {'CCACHE_BASEDIR': str(wt), 'CCACHE_NOHASHDIR': '1'}
    start = time.monotonic()
    run(cmd, cwd=wt, env=env)
    log(f'{name}: kunit.py build in {time.monotonic() - start:.0f} s')
    return out


def build_args(tree: Tree) -> tuple[str, ...]:
    """kunit.py build's arguments: the suite's .kunitconfig and the x86_64
    flavours' configuration (with THP, which the kernel's x86_64 kunit
    configuration lacks), written to build/<base>/ as a .kunitconfig."""
    flavours = tree.build_dir / tree.base.name / 'x86_64-flavours.kunitconfig'
    flavours.parent.mkdir(parents=True, exist_ok=True)
    text = tree.config_text(X86_64)
    if not flavours.exists() or flavours.read_text() != text:
        flavours.write_text(text)
    return ('--arch=x86_64', '--kunitconfig=mm/tests',
            f'--kunitconfig={flavours}')


IMAGE = Path('arch', 'x86', 'boot', 'bzImage')


def _qemu(image: Path, accel: str, timeout: float) -> tuple[list[str], bool]:
    # kunit_shutdown=reboot as kunit.py passes QEMU: with -no-reboot QEMU
    # exits. With poweroff the kernel printed "reboot: Power down", went
    # on, and panicked mounting a root it has not got.
    cmd = [QEMU, '-nodefaults', '-m', '1024', '-smp', '2', '-accel', accel,
           '-cpu', 'max', '-kernel', str(image), '-append',
           f'kunit.enable=1 kunit.filter_glob={SUITE} '
           'kunit_shutdown=reboot console=ttyS0 panic=-1',
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


def judge(variant: Variant, docs: list[Document],
          suites: tuple[str, ...] = ('oom_reap',),
          may_skip: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with @docs for @variant: a suite of @suites that did
    not run; a case of expect_fail that passed; a case skipped that is not
    in @may_skip; a failed case, except in the suite that holds the cases
    of expect_fail (the old reaper fails more of its suite than the ones
    that show the bug)."""
    problems = []
    unexpected: list[str] = []
    failed: set[str] = set()
    for name in suites:
        found = [t for d in docs for t in d.tests if t.name == name]
        if not found:
            problems.append(f'the {name} suite did not run')
            continue
        cases = found[0].subtests
        mine = {c.name for c in cases if not c.status.ok}
        failed |= mine
        if not any(c.name in variant.expect_fail for c in cases):
            unexpected += sorted(mine)
        problems += [f'{c.name} skipped: {c.directive}' for c in cases
                     if c.status.ok and c.name not in may_skip and
                     c.directive.upper().startswith('SKIP')]
    problems += [f'{name} failed' for name in unexpected]
    problems += [f'{name} passed; it must fail on {variant.name}'
                 for name in variant.expect_fail if name not in failed]
    return problems


def verdict(variant: Variant, lines: list[str],
            judge_one: Callable[[Variant, list[Document]], list[str]]
            ) -> tuple[list[Document], list[str]]:
    """The KTAP documents of @lines, and what is wrong: @judge_one's
    findings, and every kernel splat (it fails a variant as it fails a
    scenario). No user space runs: every line is the kernel's, with or
    without a timestamp."""
    docs = parse_log(lines)
    return docs, judge_one(variant, docs) + [
        f'kernel splat ({s.kind}): {s.line}'
        for s in find_splats(lines, untimed=True)]


# (source tree, image) -> (how it booted, console lines)
Boot = Callable[[Path, Path], tuple[str, list[str]]]


def run_variants(tree: Tree, results: Path, arch: str,
                 todo: list[Variant], driver: bool,
                 build_args: tuple[str, ...], image_path: Path,
                 boot_one: Boot,
                 judge_one: Callable[[Variant, list[Document]], list[str]]
                 ) -> list[Result]:
    """Builds (kunit.py build @build_args) and boots a kernel of @arch per
    variant in turn (the source tree put in each variant's state, with the
    driver if @driver; the kernel at @image_path in the build directory)
    and judges its KTAP; the console goes to
    logs/kunit-<arch>.<base>-<variant>.log."""
    base = tree.ensure_base()
    out = []
    for variant in todo:
        name = f'{arch}-{variant.name}'
        wt = tree.patched_worktree(name, base,
                                   tree.patch_files(variant.series),
                                   driver=driver)
        build_dir = kunit_build(tree, wt, name, list(build_args))
        image = build_dir / image_path
        start = time.monotonic()
        accel, lines = boot_one(wt, image)
        seconds = time.monotonic() - start
        log_path = results / 'logs' / \
            f'kunit-{arch}.{tree.base.name}-{variant.name}.log'
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(''.join(lines))
        docs, problems = verdict(variant, lines, judge_one)
        out.append(Result(variant, accel, seconds, docs, log_path,
                          problems, image, arch, build_dir, build_args))
        log(f'{arch} {variant.name}: {accel}, {seconds:.1f} s, '
            + ('; '.join(out[-1].problems) or 'as expected'))
    return out


def run_all(tree: Tree, results: Path) -> list[Result]:
    if not shutil.which(QEMU):
        raise BuildError(f'{QEMU} not found (Debian: qemu-system-x86)')
    # With the driver: the flavours' configuration builds emugpu in.
    return run_variants(tree, results, 'x86_64', variants(tree), True,
                        build_args(tree), IMAGE,
                        lambda wt, image: boot(image), judge)
