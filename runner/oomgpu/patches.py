"""make patches-check: is every series of a base ready to mail?

For each series the base's patched flavour carries (kernel-patches/<base>/
<series>/, listed in its BASE file):
  - checkpatch.pl --strict on every patch (the cover letter is prose);
  - get_maintainer.pl: who the series goes to;
  - git am of the series onto the base in the base's source tree, without
    fuzz or three-way merges, and of its `baseline` subset alone;
  - an incremental build after every patch, so the series bisects.

Two checkpatch types are ignored, for reasons of this tree, not of the
patches: UNKNOWN_COMMIT_ID (the Debian source has no git history, so no
Fixes: id can be looked up) and FILE_PATH_CHANGES (a heuristic that asks
about MAINTAINERS whenever a file is added, even when a directory entry
such as "F: mm/" already covers it).
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .debsrc import GIT_IDENTITY
from .kbuild import BuildError, Tree, log, run

CHECKPATCH_IGNORE = ('UNKNOWN_COMMIT_ID', 'FILE_PATH_CHANGES')


@dataclass
class SeriesReport:
    name: str
    patches: list[Path]
    problems: list[str] = field(default_factory=list)
    maintainers: list[str] = field(default_factory=list)
    # What was checked besides checkpatch, for the summary line.
    checks: str = ''


def _patch_list(directory: Path, listing: str) -> list[Path]:
    path = directory / listing
    if not path.exists():
        return []
    return [directory / name for name in path.read_text().split()]


def _tool_env() -> dict[str, str]:
    # checkpatch runs scripts/spdxcheck.py with the first python3 on PATH;
    # Debian's has python3-ply, a pyenv or venv one may not.
    return {'PATH': '/usr/bin:' + os.environ.get('PATH', '')}


def checkpatch(repo: Path, patch: Path) -> list[str]:
    cmd = ['perl', str(repo / 'scripts' / 'checkpatch.pl'), '--strict',
           '--terse', '--no-summary', '--ignore', ','.join(CHECKPATCH_IGNORE),
           str(patch)]
    res = subprocess.run(cmd, cwd=repo, text=True, capture_output=True,
                         env=dict(os.environ, **_tool_env()))
    findings = [line for line in (res.stdout + res.stderr).splitlines()
                if line.strip()]
    if res.returncode != 0 and not findings:
        findings = [f'checkpatch exited {res.returncode}']
    return findings


def checkpatch_all(repo: Path, patches: list[Path]) -> list[list[str]]:
    """checkpatch() of each of @patches, as many at a time as there are
    CPUs (each is one perl process); the findings in @patches' order."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return list(pool.map(lambda p: checkpatch(repo, p), patches))


def maintainers(repo: Path, patches: list[Path]) -> list[str]:
    # stderr only has git failing to look up Fixes: ids (no history here)
    res = subprocess.run(['perl', str(repo / 'scripts' / 'get_maintainer.pl'),
                          '--no-rolestats', '--nogit', '--nogit-fallback',
                          *map(str, patches)], cwd=repo, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, **_tool_env()))
    if res.returncode != 0:
        raise BuildError(f'get_maintainer.pl failed ({res.returncode})')
    return [line for line in res.stdout.splitlines() if line.strip()]


def _apply(tree: Tree, base: str, patches: list[Path]) -> None:
    worktree = tree.reset(base)
    if patches:
        run(['git', 'am', '-q', '--no-3way', *map(str, patches)],
            cwd=worktree, env=GIT_IDENTITY)


def bisect_build(tree: Tree, base: str, series: list[list[Path]]) -> list[str]:
    """Applies every series in order, one patch at a time, and builds after
    each patch; returns the patches after which the build failed.

    The driver goes in first, as in the flavours: it selects the hidden
    symbols (MMU_NOTIFIER) the series' code needs, and the same .config
    as the flavours' lets ccache share their objects."""
    wt = tree.reset(base)
    tree.place_driver(wt)
    after = tree.after_driver_files()
    if after:
        run(['git', 'am', '-q', '--no-3way', *map(str, after)], cwd=wt,
            env=GIT_IDENTITY)
    broken = []
    for patches in series:
        for patch in patches:
            run(['git', 'am', '-q', '--no-3way', str(patch)], cwd=wt,
                env=GIT_IDENTITY)
            # Kconfig symbols the fragments name may only exist later in
            # the series: configure again, without insisting on them.
            out = tree.output_dir(wt, 'bisect')
            (out / '.oomgpu-config').unlink(missing_ok=True)
            try:
                tree.configure('bisect', wt, validate=False)
                tree.make(out, wt)
                log(f'bisect: builds with {patch.name}')
            except BuildError as err:
                broken.append(f'{patch.name}: {err}')
    return broken


def check_driver(tree: Tree, with_builds: bool) -> SeriesReport:
    """emugpu and its selftests as the patches the build commits
    (exported to build/emugpu-patch/): checkpatch, maintainers, and a
    build as a module next to the =y build of the flavours."""
    where = tree.build_dir / tree.base.name / 'emugpu-patch'
    patches = tree.export_driver_patch(where)
    report = SeriesReport(f'{tree.base.name}/emugpu ({where})', patches,
                          checks='git format-patch from the patched '
                          'flavour' + (', a build with emugpu=m'
                                       if with_builds else ''))
    for patch, findings in zip(patches, checkpatch_all(tree.repo, patches)):
        report.problems += [f'checkpatch {patch.name}: {finding}'
                            for finding in findings]
    report.maintainers = maintainers(tree.repo, patches)
    if with_builds:
        try:
            ko = tree.build_driver_module()
            log(f'module: {ko.name} built, {ko.stat().st_size // 1024} KiB')
        except BuildError as err:
            report.problems.append(f'does not build as a module: {err}')
    return report


def check_all(tree: Tree, with_builds: bool = True,
              module_build: bool = True) -> list[SeriesReport]:
    base = tree.ensure_base()
    reports: list[SeriesReport] = []
    applied: list[Path] = []
    for directory in tree.base.series_dirs():
        patches = _patch_list(directory, 'series')
        report = SeriesReport(f'{tree.base.name}/{directory.name}', patches)
        for findings in checkpatch_all(tree.repo, patches):
            report.problems += [f'checkpatch: {f}' for f in findings]
        cover = directory / '0000-cover-letter.patch'
        if not cover.exists() and len(patches) > 1:
            report.problems.append('no 0000-cover-letter.patch')
        elif cover.exists() and (
                '*** SUBJECT HERE ***' in cover.read_text() or
                '*** BLURB HERE ***' in cover.read_text()):
            report.problems.append('cover letter still has placeholders')
        first = cover if cover.exists() else (patches or [cover])[0]
        if first.exists() and not tree.ksrc and \
                f'base-commit: {base}' not in first.read_text():
            report.problems.append(f'{first.name}: base-commit is not '
                                   f'{base}')
        report.maintainers = maintainers(tree.repo, patches)
        # A series applies on top of the ones before it (the 7.3 OOM series
        # needs the stable fix), as its prerequisite-patch-id lines say.
        try:
            _apply(tree, base, applied + patches)
        except BuildError as err:
            report.problems.append(f'git am onto the base: {err}')
        applied += patches
        reports.append(report)
    # The baseline flavour's patches (test harness and KUnit patch) alone
    baseline = tree.series_files('baseline')
    if baseline and reports:
        try:
            _apply(tree, base, baseline)
        except BuildError as err:
            reports[-1].problems.append(f'baseline flavour alone: {err}')
    if with_builds and all(not r.problems for r in reports):
        broken = bisect_build(tree, base, [r.patches for r in reports])
        for report in reports:
            report.problems += [f'does not build after {b}' for b in broken
                                if any(b.startswith(p.name)
                                       for p in report.patches)]
    reports.append(check_driver(tree, with_builds and module_build))
    return reports
