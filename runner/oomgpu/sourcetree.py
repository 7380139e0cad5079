"""Source trees: one git worktree per flavour, each kept in its state.

A flavour's tree is the base commit with the flavour's series applied by
`git am` and the driver placed on top (placement.py). Each flavour has a
worktree of its own (build/<base>/src/<flavour>; with KSRC=, under
build/<base>/ksrc-src/, never your checkout), so a flavour's tree is set
up once and stays as it was built: a run that asks for the same series
and driver touches nothing, and an edited driver file is the only file
that changes (its tree is put back to the series' tip and the driver
placed again, keeping the modification times of the files that did not
change). Only a changed series re-applies it from the base. A kernel
checkout is about 1.8 GB; a base has three or four of them.

The base repository's own checkout (Debian's) is the `check` tree, where
`make patches-check` applies the series one after another.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from .debsrc import GIT_IDENTITY
from .errors import log, run
from .phases import phase
from .placement import Driver

# The tree patches-check applies series in (the base repository's own
# checkout when the runner made the repository)
CHECK = 'check'
# Build output inside a source tree, one per kernel (kbuild.output_dir)
OUT_DIR = '.oomgpu-out'


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def series_digest(base: str, patches: list[Path]) -> str:
    """What a tree's series state depends on: the base and the patches."""
    return digest(base.encode(), *[p.name.encode() + p.read_bytes()
                                    for p in patches])


def driver_digest(files: list[Path]) -> str:
    return digest(*[p.name.encode() + p.read_bytes() for p in files])


class SourceTrees:
    """The worktrees of one base repository."""

    def __init__(self, repo: Path, root: Path, own_repo: bool,
                 label: str = ''):
        self.repo = repo        # Debian's base repository, or KSRC
        self.root = root        # where the worktrees live
        self.own_repo = own_repo
        self.label = label      # the base's name, for log lines

    def path(self, name: str) -> Path:
        if name == CHECK and self.own_repo:
            return self.repo
        return self.root / name

    def _state(self, name: str) -> Path:
        return self.root / f'{name}.state'

    def state(self, name: str) -> tuple[str, str, str]:
        """(series digest, the commit the series ended at, driver digest)
        of @name's tree, or empty strings."""
        path = self._state(name)
        fields = path.read_text().split() if path.exists() else []
        return tuple((fields + ['', '', ''])[:3])  # type: ignore[return-value]

    def reset(self, name: str, commit: str) -> Path:
        """Puts @name's tree at @commit (adding the worktree if needed) and
        returns it. Only files that differ are rewritten; the build output
        directories stay, so the next build is incremental."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._state(name).unlink(missing_ok=True)
        self._drop_old_layout()
        wt = self.path(name)
        if not wt.exists():
            with phase(f'git worktree add {self.label}'):
                run(['git', '-C', str(self.repo), 'worktree', 'prune'])
                run(['git', '-C', str(self.repo), 'worktree', 'add', '-q',
                     '--detach', str(wt), commit])
            return wt
        subprocess.run(['git', 'am', '--abort'], cwd=wt, capture_output=True)
        run(['git', 'checkout', '-q', '-f', '--detach', commit], cwd=wt)
        run(['git', 'clean', '-q', '-fdx', '-e', f'/{OUT_DIR}*'], cwd=wt)
        return wt

    def ensure(self, name: str, base: str, patches: list[Path],
               driver: Driver | None, after: list[Path]) -> Path:
        """@name's tree at @base with @patches applied, then, with
        @driver, the driver placed and @after applied on top. Nothing is
        done when the tree is in that state already; when only the driver
        changed, the tree goes back to the series' tip and the driver is
        placed again; else the series is applied from the base."""
        series = series_digest(base, patches)
        drv = driver_digest(driver.files() + driver.selftest_files() +
                            after) if driver else '-'
        have_series, tip, have_driver = self.state(name)
        wt = self.path(name)
        if wt.exists() and have_series == series and have_driver == drv:
            return wt
        with phase(f'git am, driver placed {self.label}'):
            if wt.exists() and have_series == series and tip:
                log(f'{self.label} {name}: the driver changed; placing it '
                    'again')
                run(['git', 'checkout', '-q', '-f', '--detach', tip], cwd=wt)
                self._state(name).unlink(missing_ok=True)
            else:
                wt = self.reset(name, base)
                if patches:
                    log(f'{self.label} {name}: git am {len(patches)} '
                        'patches')
                    run(['git', 'am', '-q', '--no-gpg-sign', '--keep-cr',
                         *map(str, patches)], cwd=wt, env=GIT_IDENTITY)
                tip = run(['git', 'rev-parse', 'HEAD'], cwd=wt).strip()
            if driver:
                driver.place(wt)
            if after:
                run(['git', 'am', '-q', '--no-gpg-sign', '--keep-cr',
                     *map(str, after)], cwd=wt, env=GIT_IDENTITY)
        self._state(name).write_text(f'{series} {tip} {drv}\n')
        return wt

    def _drop_old_layout(self) -> None:
        """Removes what older versions left: the one shared worktree of a
        KSRC= tree (`work`) and the flavours' build output in the base
        repository's checkout (GBs each; the flavours build in their own
        worktrees now)."""
        old = self.root / 'work'
        if old.is_dir():
            log(f'removing {old} (one worktree per flavour now)')
            subprocess.run(['git', '-C', str(self.repo), 'worktree',
                            'remove', '--force', str(old)],
                           capture_output=True)
            shutil.rmtree(old, ignore_errors=True)
            run(['git', '-C', str(self.repo), 'worktree', 'prune'])
        (self.root / 'work.state').unlink(missing_ok=True)
        if not self.own_repo:
            return
        for out in self.repo.glob(f'{OUT_DIR}-*'):
            if out.name.split('-', 2)[-1] not in ('bisect', 'module', 'uapi'):
                log(f'removing {out} (flavours build in build/<base>/src/)')
                shutil.rmtree(out, ignore_errors=True)
