"""emugpu into a kernel tree: driver/ placed, hooked in and committed.

driver/ goes to drivers/gpu/drm/emugpu (its uapi header to include/uapi/
drm/), hooked into the DRM Kconfig and Makefile and committed, so `git
format-patch -1` in the tree is the driver's patch; driver/selftests/
follows as a kselftest target in a commit of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from .debsrc import GIT_IDENTITY
from .errors import BuildError, run

# Where driver/ goes in a kernel tree, and the lines that hook it in.
DRIVER_DIR = 'drivers/gpu/drm/emugpu'
DRIVER_UAPI = 'include/uapi/drm/emugpu_drm.h'
DRIVER_HOOKS = (
    ('drivers/gpu/drm/Kconfig', 'source "drivers/gpu/drm/vkms/Kconfig"\n',
     'source "drivers/gpu/drm/emugpu/Kconfig"\n\n', 'before'),
    ('drivers/gpu/drm/Makefile', 'obj-$(CONFIG_DRM_VGEM)\t+= vgem/\n',
     'obj-$(CONFIG_DRM_EMUGPU) += emugpu/\n', 'after'),
)
DRIVER_SUBJECT = 'drm/emugpu: add an emulated GPU with user pointers'
# driver/selftests/ as a kselftest target, in a commit of its own after the
# driver's, hooked into the kselftest Makefile's TARGETS.
SELFTESTS_DIR = 'tools/testing/selftests/drivers/gpu/emugpu'
SELFTESTS_TARGET = 'drivers/gpu/emugpu'
SELFTESTS_HOOK = ('tools/testing/selftests/Makefile',
                  'TARGETS += drivers/dma-buf\n',
                  'TARGETS += drivers/gpu/emugpu\n')
SELFTESTS_SUBJECT = 'selftests/drivers/gpu: add emugpu tests'
# Beside a worktree <wt>: <wt>.placed.json, what each placed file held when
# it was last placed there.
PLACED_SUFFIX = '.placed.json'


class Driver:
    """driver/ of the oomgpu checkout at @top."""

    def __init__(self, top: Path):
        self.top = top
        self.dir = top / 'driver'

    def files(self) -> list[Path]:
        """driver/'s kernel sources, then its uapi header and commit
        message."""
        files = [p for p in sorted(self.dir.iterdir())
                 if p.is_file() and p.name != 'COMMIT_MSG']
        return files + [self.dir / DRIVER_UAPI, self.dir / 'COMMIT_MSG']

    def selftest_files(self) -> list[Path]:
        """driver/selftests/: the kselftest target's files, then its
        commit message."""
        tests = self.dir / 'selftests'
        files = [p for p in sorted(tests.iterdir())
                 if p.is_file() and p.name != 'COMMIT_MSG']
        return files + [tests / 'COMMIT_MSG']

    def place(self, wt: Path) -> None:
        """Copies driver/ into @wt at DRIVER_DIR, hooks it into the DRM
        Kconfig and Makefile, and commits it; then the selftests. A file
        placed with the content it had last time gets the modification
        time it had then, so a build that already compiled it does not
        compile it again; a changed one gets the current time, not
        driver/'s: a build may have compiled its old content after that
        (an edit while a build ran)."""
        last = _read_placed(wt)
        placed: dict[str, list] = {}
        dest = wt / DRIVER_DIR
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.files()[:-2]:
            _copy(f, wt, f'{DRIVER_DIR}/{f.name}', last, placed)
        _copy(self.dir / DRIVER_UAPI, wt, DRIVER_UAPI, last, placed)
        for rel, anchor, line, where in DRIVER_HOOKS:
            path = wt / rel
            text = path.read_text()
            if anchor not in text:
                raise BuildError(f'{rel}: cannot find {anchor.strip()!r}'
                                 ' to hook emugpu in')
            new = line + anchor if where == 'before' else anchor + line
            path.write_text(text.replace(anchor, new, 1))
        run(['git', 'add', '-f', '-A', DRIVER_DIR, DRIVER_UAPI,
             *[rel for rel, *_ in DRIVER_HOOKS]], cwd=wt)
        run(['git', 'commit', '-q', '--no-gpg-sign', '-s', '-m',
             DRIVER_SUBJECT + '\n\n' + (self.dir / 'COMMIT_MSG').read_text()],
            cwd=wt, env=GIT_IDENTITY)
        self._place_selftests(wt, last, placed)
        _placed_file(wt).write_text(json.dumps(placed, indent=1,
                                               sort_keys=True) + '\n')

    def _place_selftests(self, wt: Path, last: dict[str, list],
                         placed: dict[str, list]) -> None:
        """driver/selftests/ into @wt at SELFTESTS_DIR, added to the
        kselftest TARGETS, in a commit of its own."""
        dest = wt / SELFTESTS_DIR
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.selftest_files()[:-1]:
            _copy(f, wt, f'{SELFTESTS_DIR}/{f.name}', last, placed)
        rel, anchor, line = SELFTESTS_HOOK
        text = (wt / rel).read_text()
        if anchor not in text:
            raise BuildError(f'{rel}: cannot find {anchor.strip()!r} to add'
                             ' the emugpu selftests')
        (wt / rel).write_text(text.replace(anchor, anchor + line, 1))
        run(['git', 'add', '-f', '-A', SELFTESTS_DIR, rel], cwd=wt)
        run(['git', 'commit', '-q', '--no-gpg-sign', '-s', '-m',
             SELFTESTS_SUBJECT + '\n\n' +
             self.selftest_files()[-1].read_text()],
            cwd=wt, env=GIT_IDENTITY)


def _placed_file(wt: Path) -> Path:
    """Where what was placed in @wt is recorded: beside it, not in it,
    so the worktree stays clean."""
    return wt.parent / (wt.name + PLACED_SUFFIX)


def _read_placed(wt: Path) -> dict[str, list]:
    """What was placed in @wt last time: {path: [sha256, mtime_ns]}; {}
    if unknown."""
    try:
        data = json.loads(_placed_file(wt).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _copy(src: Path, wt: Path, rel: str, last: dict[str, list],
          placed: dict[str, list]) -> None:
    """@src to @wt/@rel. The same content as last time gets the time it
    had then (a build that compiled it compiles nothing); new content the
    current time, whatever @src's time."""
    dest = wt / rel
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    shutil.copyfile(src, dest)
    shutil.copymode(src, dest)
    before = last.get(rel)
    if isinstance(before, list) and len(before) == 2 and \
            before[0] == digest and isinstance(before[1], int):
        os.utime(dest, ns=(before[1], before[1]))
    placed[rel] = [digest, dest.stat().st_mtime_ns]
