"""oomgpu's runner: python3 -m oomgpu COMMAND (see --help).

Builds the kernel flavours of each base (7.3 by default, 6.12 as the LTS)
for each platform the base has (UML; x86_64 under QEMU) and the initramfs,
boots one guest per scenario, base, platform and flavour (in parallel up
to nproc), judges each boot and writes the reports under
results/<timestamp>/.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import NoReturn

from . import bases, bench, deps, kcidb, kunit_uml, kunit_x86, outgoing, \
    patches, phases, qemu, report
from .bases import FLAVOURS, Base
from .platforms import PLATFORMS, UML, Platform, of_base
from .judge import Outcome, judge
from .kbuild import CONFIG_FRAGMENTS, BuildError, Tree, log, run
from .phases import phase
from .plot import write_plot
from .rootfs import build_initramfs
from .scenarios import Scenario, load_catalogue
from .uml import boot

TOP = Path(__file__).resolve().parents[2]

# Which groups each command runs when no scenario is named. `test` (the
# quick tier) boots what the catalogue's "test" key names instead.
COMMAND_GROUPS = {
    'check': ['smoke', 'oom', 'kunit', 'selfcheck', 'kselftest'],
    'run': ['oom', 'kselftest'],
    'bench': ['bench'],
}
# What `check` runs on a second base (the LTS): the smoke group and the
# scenarios that reproduce the bug; its patches are checked in full.
LTS_GROUPS = ['smoke']
# What `check` runs on a platform other than UML (x86_64 under QEMU, where
# a boot costs several times UML's): the same rule, and the self-checks
# that prove a failure there is seen. `run` takes every OOM scenario.
SECOND_PLATFORM_GROUPS = ['smoke', 'selfcheck', 'kselftest']


class _Parser(argparse.ArgumentParser):
    """Says what is wrong in one line (make P=foo test), not with the
    usage first: --help has the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f'oomgpu: error: {message} (python3 -m oomgpu '
                  f'{self.prog.split(" ", 1)[-1]} --help)\n'
                  if ' ' in self.prog else f'oomgpu: error: {message}\n')


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog='oomgpu', description=__doc__)
    p.add_argument('--build-dir', type=Path, default=TOP / 'build')
    p.add_argument('--results-dir', type=Path, default=TOP / 'results')
    p.add_argument('--ksrc', type=Path, default=None,
                   help="the user's kernel git tree to use as the base")
    p.add_argument('--base', action='append', default=[],
                   help='kernel base (kernel-patches/<base>/); repeat it '
                   'for several: the first runs everything asked, the '
                   'others the smoke and reproducing scenarios. Default: '
                   f'{bases.DEFAULT_BASE}, or what a --ksrc tree is')
    sub = p.add_subparsers(dest='command', required=True)
    sub.add_parser('deps', help='install the Debian packages needed')
    k = sub.add_parser('kernel', help='build the UML kernel flavours')
    k.add_argument('--flavour', action='append', choices=list(FLAVOURS))
    sub.add_parser('rootfs', help='build the initramfs')
    sub.add_parser('list', help='list the scenarios')
    sub.add_parser('outgoing', help='posting-ready copies of the series in '
                   'build/outgoing/ with your identity and To/Cc; '
                   'never sends')
    pc = sub.add_parser('patches-check', help='checkpatch, get_maintainer, '
                        'git am and a build after every patch')
    pc.add_argument('--no-builds', action='store_true',
                    help='skip the build after every patch')
    for name, text in (('test', 'the quick tier (make test): each claim '
                        'once, on the first base; every series of every base '
                        'checked without builds'),
                       ('check', 'the whole matrix (make check): every '
                        'scenario, base and platform, the bisect and module '
                        'builds, the KASAN kernel, kunit.py everywhere'),
                       ('run', 'run the OOM scenarios and print the table')):
        c = sub.add_parser(name, help=text)
        c.add_argument('patterns', nargs='*', help='scenario names or globs')
        c.add_argument('--flavour', action='append', choices=list(FLAVOURS))
        c.add_argument('--platform', action='append',
                       choices=list(PLATFORMS),
                       help='only these platforms (default: every one the '
                       'base has that the scenario runs on)')
        c.add_argument('--jobs', type=int, default=os.cpu_count() or 1)
        if name in ('test', 'check'):
            c.add_argument('--no-kunit', action='store_true',
                           help="without kunit.py's kernels")
        if name == 'run':
            c.add_argument('--docs', type=Path,
                           help='also write results.md and the plot here')
    b = sub.add_parser('bench', help='make bench: repeated boots of the '
                       'bench scenarios on both flavours, min/median/max')
    b.add_argument('patterns', nargs='*', help='scenario names or globs')
    b.add_argument('--flavour', action='append', choices=list(FLAVOURS))
    b.add_argument('--trials', type=int, default=3)
    b.add_argument('--jobs', type=int, default=1,
                   help='boots at a time (default 1: timings are noisy '
                   'enough alone)')
    b.add_argument('--docs', type=Path,
                   help='also write bench.md here')
    sub.add_parser('kunit', help="the OOM series' and emugpu's KUnit suites "
                   "with the kernel's kunit.py on UML, and the OOM series' "
                   'on x86_64 under QEMU (THP): patched and baseline')
    sub.add_parser('kunit-x86', help="the OOM series' KUnit suite on x86_64 "
                   'under QEMU (THP): patched, baseline and the series '
                   'without its huge page handling')
    s = sub.add_parser('show', help='run one scenario, console on screen')
    s.add_argument('scenario')
    s.add_argument('--flavour', choices=list(FLAVOURS), default='patched')
    s.add_argument('--platform', choices=list(PLATFORMS), default=UML.name)
    return p


# One boot: a scenario on one flavour of one base, on one platform, and
# which trial of it (0: the first; make bench boots each more than once).
Work = tuple[Scenario, Tree, Platform, str, int]
# The kernels a run boots, by (base, platform, flavour)
Kernels = dict[tuple[str, str, str], Path]


def _run_one(scenario: Scenario, tree: Tree, platform: Platform,
             flavour: str, image: Path, initramfs: Path, results: Path,
             echo: bool = False, trial: int = 0) -> Outcome:
    base = tree.base
    kernel = platform.output_name(flavour)
    # make bench boots a scenario more than once: a log for each trial
    again = f'.{trial + 1}' if trial else ''
    log_path = (results / 'logs' /
                f'{scenario.name}.{base.name}-{kernel}{again}.log')
    out = sys.stdout if echo else None
    if platform is UML:
        b = boot(image, initramfs, scenario.mem,
                 scenario.kernel_args(base.boot_args, base.time_travel),
                 scenario.timeout, log_path, out)
    else:
        b = qemu.boot(image, initramfs, platform.guest_mem(scenario.mem),
                      scenario.kernel_args(platform.kernel_args, False),
                      scenario.timeout * platform.slowdown, log_path, out)
    return judge(scenario, flavour, b, log_path, base.name, platform.name)


def _run_matrix(work: list[Work], kernels: Kernels, initramfs: Path,
                results: Path, jobs: int) -> list[Outcome]:
    outcomes: dict[int, Outcome] = {}
    tty = sys.stderr.isatty()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_run_one, s, t, p, f,
                               kernels[(t.base.name, p.name, f)], initramfs,
                               results, trial=n): i
                   for i, (s, t, p, f, n) in enumerate(work)}
        for done, fut in enumerate(as_completed(futures), start=1):
            out = fut.result()
            outcomes[futures[fut]] = out
            line = (f'[{done}/{len(work)}] {out.label}: {out.status.value} '
                    f'({out.boot.wall_seconds:.1f} s)')
            if not out.status.ok:
                line += f' -- {"; ".join(out.problems)} (log: {out.log_path})'
            print(('\r\033[K' if tty else '') + line, file=sys.stderr,
                  flush=True)
    return [outcomes[i] for i in range(len(work))]


def _results_dir(base: Path) -> Path:
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    path = base / stamp
    path.mkdir(parents=True, exist_ok=True)
    latest = base / 'latest'
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(stamp)
    return path


def _scenarios(args: argparse.Namespace, first: bool) -> list[Scenario]:
    """What @args asks for on the first base; on the others (the LTS
    subset of `check`) only the smoke and reproducing scenarios."""
    cat = load_catalogue(TOP / 'tests' / 'scenarios.toml')
    if args.command == 'test' and not args.patterns:
        return [s for s in cat.scenarios.values() if s.test]
    picked = cat.select(args.patterns, COMMAND_GROUPS.get(args.command, []))
    if first or args.patterns or args.command != 'check':
        return picked
    return [s for s in picked
            if s.reproduces or set(LTS_GROUPS) & set(s.groups)]


def _initramfs(args: argparse.Namespace, tree: Tree) -> Path:
    """The guest image, with the kernel selftests of @tree's base."""
    return build_initramfs(TOP, args.build_dir, tree.uapi_include(),
                           tree.kselftests())


def _runs_on(args: argparse.Namespace, scenario: Scenario,
             platform: Platform) -> bool:
    """Whether @scenario boots on @platform in this command."""
    if platform.name not in scenario.platforms:
        return False
    if args.command == 'test' and not args.platform:
        # Where the catalogue's "test" says; a scenario named that has
        # none: its first platform (UML where it runs there)
        return platform.name in (scenario.test or scenario.platforms[:1])
    # UML, and a checking kernel (x86_64-kasan): all that names it.
    if platform is UML or not platform.measured or args.patterns or \
            args.command != 'check':
        return True
    return scenario.reproduces or bool(
        set(SECOND_PLATFORM_GROUPS) & set(scenario.groups))


def _boots_flavour(args: argparse.Namespace, scenario: Scenario,
                   platform: Platform, flavour: str) -> bool:
    """Whether @scenario boots on @flavour of @platform: in `test` without
    names, the baseline only where it must fail there, and only on UML
    (each claim once: UML shows the bug; x86_64 shows what UML lacks, on
    the patched kernel and the experiment that must fail)."""
    if args.command != 'test' or args.patterns or args.flavour:
        return True
    return flavour != 'baseline' or (scenario.reproduces and platform is UML)


def _experiments(args: argparse.Namespace, tree: Tree,
                 scenarios: list[Scenario], platforms: list[Platform]
                 ) -> list[tuple[Scenario, Platform, str]]:
    """The boots of `test` on experiment kernels: each scenario that names
    cases that must fail on an experiment of @tree's base, on the measured
    platforms it runs on (not a checking kernel: the experiment is about
    the series, not the build)."""
    return [(s, p, experiment) for s in scenarios
            for experiment, _ in s.must_fail_on
            if tree.base.has_experiment(experiment)
            for p in platforms if p.measured and _runs_on(args, s, p)]


def _trees(args: argparse.Namespace) -> list[Tree]:
    names = args.base or [None]
    if args.ksrc and len(names) > 1:
        raise ValueError('--ksrc builds one base: the one the tree is')
    return [Tree(TOP, args.build_dir, bases.pick(TOP, n, args.ksrc),
                 args.ksrc) for n in names]


def _all_base_trees(args: argparse.Namespace, first: Tree) -> list[Tree]:
    """@first and, unless --base or --ksrc chose, every other base: the
    series `test` checks without builds."""
    if args.base or args.ksrc:
        return [first]
    others = [b for name, b in bases.all_bases(TOP).items()
              if name != first.base.name]
    return [first] + [Tree(TOP, args.build_dir, b) for b in others]


def _patches_check(tree: Tree, with_builds: bool,
                   module_build: bool = True) -> int:
    with phase(f'patches-check {tree.base.name}' +
               (' (checkpatch, git am)' if not with_builds else '')):
        reports = patches.check_all(tree, with_builds, module_build)
    bad = 0
    for rep in reports:
        checks = rep.checks or ('git am onto the base' + (
            ', a build after every patch' if with_builds else ''))
        print(f'{rep.name}: {len(rep.patches)} patch(es), checkpatch --strict'
              f' (ignoring {",".join(patches.CHECKPATCH_IGNORE)}), {checks}')
        for who in rep.maintainers:
            print(f'  to/cc: {who}')
        for problem in rep.problems:
            print(f'  PROBLEM: {problem}')
        print(f'  {"clean" if not rep.problems else "NOT clean"}')
        bad += bool(rep.problems)
    return 1 if bad else 0


def _publish(outcomes: list[Outcome], results: Path,
             docs: Path | None) -> None:
    """results.md and the plot in @results, and copies in @docs."""
    png = write_plot(outcomes, results)
    when = time.strftime('%Y-%m-%d %H:%M %Z')
    md = report.markdown(outcomes, 'make run', png.name if png else None,
                         when)
    (results / 'results.md').write_text(md)
    if docs is None:
        return
    docs.mkdir(parents=True, exist_ok=True)
    (docs / 'results.md').write_text(md)
    if png:
        shutil.copy2(png, docs / png.name)
    log(f'wrote {docs / "results.md"}' + (f' and {png.name}' if png else
                                           ' (no gnuplot: no plot)'))


def _checkout(tree: Tree, key: str, patches: list[Path],
              misc: dict) -> kcidb.Checkout:
    commit = tree.ensure_base()
    if tree.ksrc:
        name = tree.ksrc.name
        subject = run(['git', '-C', str(tree.ksrc), 'log', '-1',
                       '--format=%s']).strip()
        try:
            url = run(['git', '-C', str(tree.ksrc), 'remote', 'get-url',
                       'origin']).strip()
        except BuildError:
            url = ''
    else:
        name = f'debian-{tree.base.package}'
        subject = f'{tree.base.package} {tree.base.version}'
        url = ''
    return kcidb.Checkout(key, commit, subject, name, patches, url,
                          dict(misc, base=tree.base.name))


def _kcidb(results: Path, start: str, trees: list[Tree], kernels: Kernels,
           outcomes: list[Outcome],
           kunit_runs: list[kunit_x86.Result]) -> list[str]:
    """Writes results/kcidb.json; returns the schema's complaints."""
    by_name = {t.base.name: t for t in trees}
    checkouts: dict[str, kcidb.Checkout] = {}
    builds: list[kcidb.Build] = []
    for (base, platform_name, flavour), image in kernels.items():
        tree = by_name[base]
        platform = PLATFORMS[platform_name]
        key = f'{base}.{flavour}'
        if key not in checkouts:
            driver = [str(p.relative_to(TOP)) for p in tree.driver_files()]
            checkouts[key] = _checkout(
                tree, key,
                tree.series_files(flavour) + tree.after_driver_files(),
                {'flavour': flavour, 'driver': driver,
                 'driver_placed_at': 'drivers/gpu/drm/emugpu'})
        out = tree.kernel_dir(flavour, platform)
        fragments = CONFIG_FRAGMENTS + platform.fragments + \
            platform.base_fragments(tree.base)
        builds.append(kcidb.Build(
            f'{base}.{platform_name}.{flavour}', key, platform.arch,
            '+'.join(fragments), out / '.config', image,
            f'make ARCH={platform.arch} O={out.name}',
            {'platform': platform_name, 'flavour': flavour}))
    tests: list[kcidb.Test] = []
    tree = trees[0]
    for r in kunit_runs:
        name = f'kunit-{r.arch}-{r.variant.name}'
        key = f'{tree.base.name}.{name}'
        checkouts[key] = _checkout(tree, key,
                                   tree.patch_files(r.variant.series),
                                   {'kunit_variant': r.variant.name,
                                    'kunit_arch': r.arch})
        args = ' '.join(r.build_args)
        build = f'{tree.base.name}.{r.arch}.{name}'
        builds.append(kcidb.Build(
            build, key, r.arch, f'kunit.py {args}',
            r.build_dir / '.config' if r.build_dir else None, r.image,
            f'tools/testing/kunit/kunit.py build {args}', {}))
        tests.append(kcidb.Test(
            f'{build}.kunit', build, f'oomgpu.kunit-{r.arch}',
            'FAIL' if r.problems else 'PASS', r.seconds, r.log_path,
            '\n'.join(r.problems), {'accel': r.accel,
                                    'expect_fail': list(r.variant.expect_fail)},
            [t for d in r.documents for t in d.tests]))
    doc = kcidb.document(
        results.name, start, list(checkouts.values()), builds,
        [(o, f'{o.base}.{o.platform}.{o.flavour}') for o in outcomes], tests)
    path = results / 'kcidb.json'
    kcidb.write(doc, path)
    errors = kcidb.validate(path)
    if not errors:
        print(f'# kcidb.json: {len(doc["checkouts"])} checkouts, '
              f'{len(doc["builds"])} builds, {len(doc["tests"])} tests; '
              'valid against KCIDB I/O v5.3')
    return errors


def _kunit_name(tree: Tree, r: kunit_x86.Result) -> str:
    return f'kunit-{r.arch}@{tree.base.name}/{r.variant.name}'


def _kunit_ktap(tree: Tree, outs: list[kunit_x86.Result]) -> int:
    """Prints a KTAP document, one test per kunit.py kernel; returns the
    failed."""
    print('KTAP version 1')
    print(f'1..{len(outs)}')
    for i, r in enumerate(outs, start=1):
        name = _kunit_name(tree, r)
        want = ('must fail: ' + ', '.join(r.variant.expect_fail)
                if r.variant.expect_fail else 'must pass')
        how = f'QEMU {r.accel}' if r.arch == 'x86_64' else 'UML'
        print(f'# {name}: {want}; {how} {r.seconds:.1f} s; '
              f'log: {r.log_path}')
        for problem in r.problems:
            print(f'# {problem}')
        print(f'{"not ok" if r.problems else "ok"} {i} {name}')
    return sum(bool(r.problems) for r in outs)


def _kunit(tree: Tree, results: Path, uml: bool, x86: bool) -> int:
    """kunit.py's kernels: UML, then x86_64; prints KTAP and the counts."""
    outs = kunit_uml.run_all(tree, results, shipped=True) if uml else []
    if x86:
        outs += kunit_x86.run_all(tree, results)
    failed = _kunit_ktap(tree, outs)
    print(f'{len(outs) - failed} passed, {failed} failed')
    return 1 if failed else 0


BENCH_INTRO = '''\
Five measurements, each on the baseline and the patched kernel booted in
the same run, trials interleaved (each scenario on each flavour, then all
again). Times are CLOCK_MONOTONIC in the guest or the kernel log's clock
(UML: noisy); the counts are exact.

- Reaper pass cost vs busy ranges (tests/bench_reap.c): one reaper pass,
  process_mrelease(2) of a killed victim, over a 1 GiB VMA with k busy
  ranges: k user pointers of one page each under emugpu's `xe` policy
  (every registered user pointer refuses a non-blockable invalidation, as
  xe, amdgpu and drm_gpusvm do), evenly spaced. Pass 1 frees what it can;
  pass 2 walks the same victim again with nothing left to free. calls =
  non-blockable notifier calls the driver saw in pass 1; reaped = RssAnon
  pass 1 gave back; vs k=0 = pass-1 time over the idle VMA's, same
  flavour, by median trial / by fastest trial (a busy host only adds
  time, so the fastest trials show the cost with the least noise).
- Invalidations nobody refuses (tests/bench_fastpath.c): MADV_DONTNEED,
  mprotect(PROT_READ) and munmap() of 1024 pages, each page mirrored by an
  idle emugpu user pointer (1024 interval notifiers, each called by every
  operation, which the program checks); a trial is the median of 200
  rounds; speed vs baseline = baseline's time over patched's, by median
  trial / by fastest trial (above 1: patched is faster).
- OOM kill to memory back, per policy (oom-gpu-busy-POLICY, driver/selftests/oom_gpu.c):
  a global OOM kills a process whose job holds 64 KiB of its 128 MiB VMA;
  from the kernel log, the kill to the reaper's first report (partial or
  whole), to the reaper giving up (baseline), and to the victim gone (the
  parent has waited for it: all its memory is back); collateral kills =
  other processes the OOM killer killed.
- Consecutive OOM episodes in one boot (oom-gpu-episodes-POLICY, x86_64
  under QEMU: an episode takes 20 s in UML here): the
  memcg OOM scenario 100 times, each victim's job released once the hog is
  done; collateral kills over all episodes, bystanders killed, the memcg's
  memory.current after the last minus before the first, emugpu objects,
  user pointers, mappings, jobs and fences left. One trial: counts.
- TLB shootdowns of a reaper pass (bench-tlb-k*, x86_64 under QEMU with
  CONFIG_DEBUG_TLBFLUSH): the same program as the reaper pass cost over a
  1 GiB VMA; flushes = nr_tlb_remote_flush in /proc/vmstat across each
  pass, the TLB flushes of the victim's memory that reached a CPU (UML
  has no such count; times under TCG say nothing, so none are shown).
'''


def _bench(args: argparse.Namespace, tree: Tree) -> int:
    cat = load_catalogue(TOP / 'tests' / 'scenarios.toml')
    scenarios = cat.select(args.patterns, COMMAND_GROUPS['bench'])
    flavours = args.flavour or list(FLAVOURS)
    # The platforms the chosen scenarios name: UML for the times, x86_64
    # for what only it counts (TLB shootdowns).
    platforms = [p for p in of_base(tree.base) if p.measured and
                 any(p.name in sc.platforms for sc in scenarios)]
    kernels = {(tree.base.name, p.name, f): tree.build(f, p)
               for f in flavours for p in platforms}
    initramfs = _initramfs(args, tree)
    results = _results_dir(args.results_dir)
    # Trials interleave: each scenario on each flavour, then all again.
    work: list[Work] = [(s, tree, p, f, t) for t in range(args.trials)
                        for s in scenarios if not s.trials or t < s.trials
                        for p in platforms if p.name in s.platforms
                        for f in flavours]
    outcomes = _run_matrix(work, kernels, initramfs, results, args.jobs)
    report.write_all(outcomes, results)
    ok = [o for o in outcomes if o.status.ok]
    rows = bench.summarise([t for o in ok for t in bench.trials_of(o)])
    command = (f'python3 -m oomgpu --base {tree.base.name} bench '
               f'--trials {args.trials} --jobs {args.jobs}')
    text = bench.table(rows, args.trials)
    (results / 'bench.json').write_text(
        json.dumps(bench.to_json(rows, args.trials, command), indent=1))
    plot = bench.write_plot(rows, results)
    when = time.strftime('%Y-%m-%d %H:%M %Z')
    on = ' and '.join('UML' if p is UML else f'{p.name} under QEMU'
                      for p in platforms)
    md = (f'# make bench\n\n{BENCH_INTRO}\nMeasured {when} with `{command}` '
          f'({tree.base.name}, {on}).\n\n{text}')
    if plot:
        md += '\n![reaper pass time against busy ranges](bench.png)\n'
    (results / 'bench.md').write_text(md)
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        (args.docs / 'bench.md').write_text(
            md + bench.kept_analysis(args.docs / 'bench.md'))
        if plot:
            shutil.copy2(plot, args.docs / plot.name)
        log(f'wrote {args.docs / "bench.md"}')
    print(text, end='')
    for o in outcomes:
        if not o.status.ok:
            print(f'# {o.label}: {"; ".join(o.problems)} (log: {o.log_path})')
    print(f'# results: {results}')
    print(f'{len(ok)} trials ok, {len(outcomes) - len(ok)} failed')
    return 0 if len(ok) == len(outcomes) else 1


def _kernels_and_work(args: argparse.Namespace, trees: list[Tree]
                      ) -> tuple[Kernels, list[Work]]:
    """Builds the kernels the boots of @args need; returns them and the
    boots."""
    flavours = args.flavour or list(FLAVOURS)
    work: list[Work] = []
    kernels: Kernels = {}
    missing = [p for p in args.platform or []
               if PLATFORMS[p] not in of_base(trees[0].base)]
    if missing:
        raise ValueError(f'base {trees[0].base.name} has no '
                         f'{", ".join(missing)} kernel; it has '
                         + ', '.join(p.name for p in of_base(trees[0].base)))
    for i, t in enumerate(trees):
        scenarios = _scenarios(args, first=i == 0)
        # A checking kernel (x86_64-kasan) is booted by check and test, or
        # when asked for by name; run measures only the others.
        platforms = [p for p in of_base(t.base)
                     if p.name in (args.platform or []) or
                     not args.platform and (p.measured or
                                            args.command != 'run')]
        boots = [(s, p, f) for s in scenarios for p in platforms
                 if _runs_on(args, s, p) for f in flavours
                 if f in p.flavours and _boots_flavour(args, s, p, f)]
        if args.command in ('test', 'check') and i == 0 and \
                not args.flavour:
            boots += _experiments(args, t, scenarios, platforms)
        # Each flavour's kernels one after the other.
        for f in dict.fromkeys(f for _, _, f in boots):
            for p in dict.fromkeys(p for _, p, g in boots if g == f):
                kernels[(t.base.name, p.name, f)] = t.build(f, p)
        work += [(s, t, p, f, 0) for s, p, f in boots]
    if args.patterns and not work:
        raise ValueError(f'{" ".join(args.patterns)} boots nowhere with '
                         + (f'P={",".join(args.platform)}'
                            if args.platform else 'these options')
                         + ' (make list shows where each scenario runs)')
    return kernels, work


def _boot_command(args: argparse.Namespace, trees: list[Tree]) -> int:
    """test, check and run: the patch checks (test, check), the kernels,
    the boots, kunit.py's kernels (test, check), the reports, where the
    time went and the verdict."""
    tree = trees[0]
    checking = args.command in ('test', 'check') and not args.patterns
    patch_failures = 0
    if checking:
        # test: every base's series without builds; check: with them
        for i, t in enumerate(trees if args.command == 'check'
                              else _all_base_trees(args, tree)):
            patch_failures += _patches_check(
                t, args.command == 'check', module_build=i == 0)
    kernels, work = _kernels_and_work(args, trees)
    with phase('initramfs (test programs, kselftests)'):
        initramfs = _initramfs(args, tree)
    results = _results_dir(args.results_dir)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')
    print('# bases: ' + ', '.join(
        f'{t.base.name} ({t.ksrc or t.base.package + " " + t.base.version})'
        for t in trees))
    with phase(f'boots ({len(work)}, {args.jobs} at a time)'):
        outcomes = _run_matrix(work, kernels, initramfs, results, args.jobs)
    report.write_all(outcomes, results)
    if args.command == 'run':
        _publish(outcomes, results, args.docs)
        print(report.table(outcomes), end='')
    else:
        print(report.ktap(outcomes), end='')
    passed, failed, skipped = report.counts(outcomes)
    digest = report.failures(outcomes)
    kunit_runs: list[kunit_x86.Result] = []
    if checking and not args.no_kunit and not args.flavour:
        kunit_runs += kunit_uml.run_all(tree, results,
                                        shipped=args.command == 'check')
        if args.command == 'check' and \
                any(p.name == 'x86_64' for p in of_base(tree.base)):
            kunit_runs += kunit_x86.run_all(tree, results)
    if kunit_runs:
        kunit_failed = _kunit_ktap(tree, kunit_runs)
        passed += len(kunit_runs) - kunit_failed
        failed += kunit_failed
        digest += [f'{_kunit_name(tree, r)}: ' + '; '.join(r.problems)
                   for r in kunit_runs if r.problems]
    if patch_failures:
        failed += patch_failures
        digest.append(f'{patch_failures} base(s) with series or driver '
                      'patches that are not clean (PROBLEM lines above)')
    schema_errors = _kcidb(results, started, trees, kernels, outcomes,
                           kunit_runs)
    if schema_errors:
        failed += 1
        digest.append('kcidb.json is not valid KCIDB I/O v5.3: '
                      + '; '.join(schema_errors[:5]))
    print(phases.table(), end='')
    # The last lines are what a CI log shows when it is cut: name
    # what failed there, not only how many.
    for line in digest:
        print(f'# failed: {line}')
    print(f'# results: {results}')
    print(f'{passed} passed, {failed} failed'
          + (f', {skipped} skipped' if skipped else ''))
    return 0 if failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == 'deps':
            deps.ensure()
            return 0
        trees = _trees(args)
        tree = trees[0]
        if args.command == 'test' and len(trees) > 1:
            raise ValueError('test boots one base (and checks the series '
                             'of every base): check takes several')
        if args.command == 'kernel':
            for t in trees:
                for f in args.flavour or list(FLAVOURS):
                    for p in of_base(t.base):
                        if f in p.flavours:
                            t.build(f, p)
            return 0
        if args.command == 'rootfs':
            _initramfs(args, tree)
            return 0
        if args.command == 'patches-check':
            # The emugpu=m build runs on the first base only.
            failed = max(_patches_check(t, not args.no_builds, i == 0)
                         for i, t in enumerate(trees))
            print(phases.table(), end='')
            return failed
        if args.command == 'kunit-x86':
            return _kunit(tree, _results_dir(args.results_dir), False, True)
        if args.command == 'kunit':
            return _kunit(tree, _results_dir(args.results_dir), True,
                          any(p.name == 'x86_64' for p in of_base(tree.base)))
        if args.command == 'bench':
            return _bench(args, tree)
        if args.command == 'outgoing':
            for t in trees:
                for d in outgoing.write_outgoing(t, args.build_dir /
                                                 'outgoing'):
                    print(f'{d}: git send-email {d}/*.patch')
            return 0
        if args.command == 'list':
            cat = load_catalogue(TOP / 'tests' / 'scenarios.toml')
            for s in cat.scenarios.values():
                print(f'{s.name:24} {",".join(s.groups):18} '
                      f'{",".join(s.platforms):11} {s.summary}')
            return 0
        if args.command == 'show':
            cat = load_catalogue(TOP / 'tests' / 'scenarios.toml')
            scenario = cat.select([args.scenario], [])[0]
            platform = PLATFORMS[args.platform]
            if platform not in of_base(tree.base):
                raise ValueError(f'base {tree.base.name} has no '
                                 f'{platform.name} kernel')
            if args.flavour not in platform.flavours:
                raise ValueError(f'{platform.name} is built for '
                                 f'{", ".join(platform.flavours)} only')
            image = tree.build(args.flavour, platform)
            initramfs = _initramfs(args, tree)
            out = _run_one(scenario, tree, platform, args.flavour, image,
                           initramfs, _results_dir(args.results_dir),
                           echo=True)
            print(f'{out.label}: {out.status.value}'
                  + (f' -- {"; ".join(out.problems)}' if out.problems else '')
                  + f' (log: {out.log_path})')
            return 0 if out.status.ok else 1
        return _boot_command(args, trees)
    except (BuildError, ValueError) as err:
        if phases.records():
            print(phases.table(), end='')
        log(f'error: {err}')
        return 2


if __name__ == '__main__':
    sys.exit(main())
