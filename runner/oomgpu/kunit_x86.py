"""The OOM series' KUnit suite on x86_64 under QEMU, for what UML lacks (THP).

The kernel's own tools/testing/kunit/kunit.py builds each kernel
(`kunit.py build --arch=x86_64 --kunitconfig=mm/tests`) in the output
directory of the x86_64 flavour of the same name, with that flavour's
.config as a second --kunitconfig (THP, the debug set, emugpu): kunit.py
finds the configuration it asks for already there and the kernel already
built, so these kernels cost no compile at all. The shipped
mm/tests/.kunitconfig alone, as KernelCI runs it, is built on UML
(kunit_uml, make check). The boot filters on the oom_reap suite: the
flavours' configuration builds others in. kunit.py's own QEMU runner tries
KVM first, and KVM inside these machines dies with an emulation error
instead of falling back, so the runner boots QEMU itself: with KVM only if
a probe boot of the same kernel printed KTAP, else TCG (which always
works).

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

from .kbuild import BuildError, Tree, ccache_env, log, make_ccache_args, run
from .ktap import Document, parse_log
from .phases import phase
from .platforms import X86_64, Platform
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
    # the flavour whose source tree it builds in (default: its name)
    flavour: str = ''

    @property
    def tree(self) -> str:
        return self.flavour or self.name


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


def kunit_build(wt: Path, out: Path, name: str, args: list[str]) -> None:
    """kunit.py build of the tree @wt with @args for @name, in @out."""
    cmd = ['python3', 'tools/testing/kunit/kunit.py', 'build',
           f'--build_dir={out.name}', '--jobs=2', *args]
    ccache = make_ccache_args()
    if ccache:
        cmd += ['--make_options', ccache[0]]
    start = time.monotonic()
    with phase(f'kunit.py build {name}'):
        run(cmd, cwd=wt, env=ccache_env(wt))
    log(f'{name}: kunit.py build in {time.monotonic() - start:.0f} s')


def flavour_kunitconfig(tree: Tree, flavour: str, platform: Platform) -> Path:
    """@flavour's kernel for @platform, built, and its .config copied to
    build/<base>/kunit/ as a .kunitconfig: kunit.py then configures and
    builds exactly that kernel, in its output directory."""
    tree.build(flavour, platform)
    config = (tree.kernel_dir(flavour, platform) / '.config').read_text()
    path = tree.build_dir / tree.base.name / 'kunit' / \
        f'{platform.output_name(flavour)}.kunitconfig'
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != config:
        path.write_text(config)
    return path


BUILD_ARGS = ('--arch=x86_64', '--kunitconfig=mm/tests')


IMAGE = Path('arch', 'x86', 'boot', 'bzImage')


def _qemu(image: Path, accel: str, timeout: float) -> tuple[list[str], bool]:
    # kunit_shutdown=reboot as kunit.py passes QEMU: with -no-reboot QEMU
    # exits. With poweroff the kernel printed "reboot: Power down", went
    # on, and panicked mounting a root it has not got. kunit.autorun=1:
    # the flavours' configuration starts from allnoconfig, which leaves
    # KUNIT_AUTORUN_ENABLED off (the scenario boots must not run suites),
    # and without it the kernel ran nothing and rebooted in silence.
    cmd = [QEMU, '-nodefaults', '-m', '1024', '-smp', '2', '-accel', accel,
           '-cpu', 'max', '-kernel', str(image), '-append',
           f'kunit.enable=1 kunit.autorun=1 kunit.filter_glob={SUITE} '
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
                 todo: list[Variant], build_args: tuple[str, ...],
                 image_path: Path, boot_one: Boot,
                 judge_one: Callable[[Variant, list[Document]], list[str]],
                 platform: Platform | None = None) -> list[Result]:
    """Builds (kunit.py build @build_args) and boots a kernel of @arch per
    variant in turn and judges its KTAP; the console goes to
    logs/kunit-<arch>.<base>-<variant>.log. Each variant builds in the
    source tree of the flavour of its name: with @platform, in that
    flavour's kernel's own output directory, with its .config as one more
    --kunitconfig; else in kunit-<arch>-<variant>, from @build_args alone
    (the kunitconfigs as shipped)."""
    base = tree.ensure_base()
    out = []
    for variant in todo:
        name = f'{arch}-{variant.name}'
        args = list(build_args)
        if platform is not None:
            config = flavour_kunitconfig(tree, variant.tree, platform)
            # The tree in the state the kernel was built from (another
            # kernel of the flavour may have left it elsewhere)
            wt = tree.ensure_worktree(variant.tree, base)
            build_dir = tree.kernel_dir(variant.tree, platform)
            before = (build_dir / '.config').read_text()
            args.append(f'--kunitconfig={config}')
            # Until kunit.py is done and the .config is the same, the
            # flavour's kernel is not known to be what its stamps say
            stamps = tree.forget_build(variant.tree, platform)
        else:
            wt = tree.patched_worktree(variant.tree, base,
                                       tree.patch_files(variant.series),
                                       driver=True)
            build_dir = tree.output_dir(wt, f'kunit-{name}')
        kunit_build(wt, build_dir, f'{tree.base.name} {name}', args)
        if platform is not None and \
                (build_dir / '.config').read_text() == before:
            tree.restore_build(variant.tree, platform, stamps)
        image = build_dir / image_path
        start = time.monotonic()
        with phase(f'kunit.py boots ({arch})'):
            accel, lines = boot_one(wt, image)
        seconds = time.monotonic() - start
        log_path = results / 'logs' / \
            f'kunit-{arch}.{tree.base.name}-{variant.name}.log'
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(''.join(lines))
        docs, problems = verdict(variant, lines, judge_one)
        out.append(Result(variant, accel, seconds, docs, log_path,
                          problems, image, arch, build_dir, tuple(args)))
        log(f'{arch} {variant.name}: {accel}, {seconds:.1f} s, '
            + ('; '.join(out[-1].problems) or 'as expected'))
    return out


def run_all(tree: Tree, results: Path) -> list[Result]:
    if not shutil.which(QEMU):
        raise BuildError(f'{QEMU} not found (Debian: qemu-system-x86)')
    return run_variants(tree, results, 'x86_64', variants(tree), BUILD_ARGS,
                        IMAGE, lambda wt, image: boot(image), judge, X86_64)
