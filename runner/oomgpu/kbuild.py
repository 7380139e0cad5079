"""Kernel source, flavours and UML builds.

The source of a base (bases.py: 7.3 by default, 6.12 as the LTS) is
Debian's linux-source-X.Y, pinned in kernel-patches/<base>/BASE, fetched
without root (apt-get download + dpkg-deb, through a private apt
configuration under build/apt/ when the base lives in another Debian
suite) and committed once as a git base with fixed metadata, so the base
commit id is the same on every machine.

One source tree per base (the base repository's own checkout; with KSRC=,
one git worktree of the user's tree, never the user's checkout) is put in
each flavour's state in turn: the flavour's series applied by `git am`,
the driver placed on top. Each flavour builds in its own output directory
inside that tree (.oomgpu-out-<flavour>), so switching rewrites only the
files the series touch and each build stays incremental. One checkout per
base instead of one per flavour: a kernel checkout is 1.5 GB, and CI's
disk is shared.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .bases import FLAVOURS, Base  # noqa: E402  (re-exported)
from .platforms import UML, Platform

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
CONFIG_FRAGMENTS = ('base.config', 'debug.config')
# Build output inside the source tree, one per flavour (Tree.output_dir()).
OUT_DIR = '.oomgpu-out'
# The kernel's own selftests in the guest image, by directory under
# tools/testing/selftests: the HMM tests (lib/test_hmm.c, x86_64) and the
# process_mrelease(2) test.
KSELFTESTS = (('mm', ('hmm-tests', 'mrelease_test')),)
# The driver as a module: the build check of `make patches-check`.
MODULE_FRAGMENTS = ('base.config', 'module.config')
__all__ = ['FLAVOURS', 'Base', 'Tree', 'BuildError', 'log', 'run']

_GIT_IDENTITY = {
    'GIT_AUTHOR_NAME': 'oomgpu', 'GIT_AUTHOR_EMAIL': 'oomgpu@localhost',
    'GIT_COMMITTER_NAME': 'oomgpu', 'GIT_COMMITTER_EMAIL': 'oomgpu@localhost',
    'GIT_AUTHOR_DATE': '2000-01-01T00:00:00Z',
    'GIT_COMMITTER_DATE': '2000-01-01T00:00:00Z',
}


class BuildError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f'oomgpu: {msg}', file=sys.stderr, flush=True)


def run(cmd: list[str], cwd: Path | None = None,
        env: dict[str, str] | None = None) -> str:
    full_env = dict(os.environ, **(env or {}))
    res = subprocess.run(cmd, cwd=cwd, env=full_env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        tail = '\n'.join(res.stdout.splitlines()[-40:])
        raise BuildError(f'{" ".join(cmd)} failed ({res.returncode}):\n{tail}')
    return res.stdout


def apt_download(spec: str, cwd: Path, apt: list[str] | None = None,
                 attempts: int = 3) -> None:
    """apt-get download, retried a bounded number of times: a passing
    archive hiccup should not fail a 20-minute run."""
    for attempt in range(1, attempts + 1):
        try:
            run(['apt-get', *(apt or []), 'download', spec], cwd=cwd)
            return
        except BuildError:
            if attempt == attempts:
                raise
            log(f'apt-get download {spec} failed, retrying ({attempt})')
            time.sleep(5 * attempt)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


class Tree:
    """The base git tree and the one source tree the flavours share."""

    def __init__(self, top: Path, build: Path, base: Base,
                 ksrc: Path | None = None):
        self.top = top
        self.build_dir = build
        self.base = base
        self.ksrc = ksrc
        here = build / base.name
        self.repo = ksrc if ksrc else here / 'linux'
        self.worktrees = here / ('ksrc-src' if ksrc else 'src')
        # Ours to check out anything in: the base repository we made, or
        # a worktree of the user's.
        self.work = self.worktrees / 'work' if ksrc else self.repo
        # Which state (patched_worktree()'s hash) self.work is in.
        self._state = self.worktrees / 'work.state'

    # -- the base -------------------------------------------------------

    def ensure_base(self) -> str:
        """Returns the base commit id, creating the base tree if needed."""
        if self.ksrc:
            return run(['git', '-C', str(self.ksrc), 'rev-parse',
                        'HEAD']).strip()
        stamp = self.build_dir / self.base.name / 'linux.base'
        if stamp.exists() and (self.repo / '.git').exists():
            return stamp.read_text().strip()
        tarball = self._fetch_tarball()
        log(f'unpacking {tarball.name} into {self.repo}')
        if self.repo.exists():
            shutil.rmtree(self.repo)
        self.repo.mkdir(parents=True)
        run(['tar', '-xf', str(tarball), '-C', str(self.repo),
             '--strip-components=1'])
        env = dict(_GIT_IDENTITY)
        run(['git', 'init', '-q', '-b', 'base'], cwd=self.repo)
        # Debian's .gitignore ignores the whole top level: force-add.
        run(['git', 'add', '-A', '-f'], cwd=self.repo, env=env)
        run(['git', 'commit', '-q', '--no-gpg-sign', '-m',
             f'Linux {self._kernel_version()} ({self.base.package} '
             f'{self.base.version})'], cwd=self.repo, env=env)
        base = run(['git', 'rev-parse', 'HEAD'], cwd=self.repo).strip()
        stamp.write_text(base + '\n')
        return base

    def _kernel_version(self) -> str:
        mk = (self.repo / 'Makefile').read_text()
        parts = [re.search(rf'^{k} = (\S*)', mk, re.M) for k in
                 ('VERSION', 'PATCHLEVEL', 'SUBLEVEL')]
        return '.'.join(p.group(1) for p in parts if p)

    def _apt_options(self) -> list[str]:
        """apt-get options for the base's suite: a private sources list,
        state and cache under build/apt/<suite>, naming the archive the
        machine's apt already uses. The machine's apt sources are never
        changed. No suite: apt's own configuration."""
        suite = self.base.suite
        if not suite:
            return []
        root = self.build_dir / 'apt' / suite
        lists = root / 'lists'
        (lists / 'partial').mkdir(parents=True, exist_ok=True)
        (root / 'cache' / 'archives' / 'partial').mkdir(parents=True,
                                                        exist_ok=True)
        sources = root / 'sources.list'
        if not sources.exists():
            uris = run(['apt-get', 'indextargets', '--format',
                        '$(REPO_URI)']).split()
            archive = [u for u in uris if 'security' not in u]
            if not archive:
                raise BuildError('apt knows no Debian archive to fetch '
                                 f'{self.base.package} from')
            sources.write_text(f'deb {archive[0]} {suite} main\n')
        opts = ['-o', f'Dir::Etc::SourceList={sources}',
                '-o', 'Dir::Etc::SourceParts=/dev/null',
                '-o', f'Dir::State::Lists={lists}',
                '-o', f'Dir::Cache={root / "cache"}']
        if not any(lists.glob('*Packages*')):
            log(f'apt-get update for {suite} (private lists in {root})')
            run(['apt-get', *opts, 'update', '-q'])
        return opts

    def _fetch_tarball(self) -> Path:
        dl = self.build_dir / 'dl'
        dl.mkdir(parents=True, exist_ok=True)
        pkg = self.base.package
        tarball = dl / f'{pkg}.tar.xz'
        if tarball.exists() and _sha256(tarball) == self.base.tarball_sha256:
            return tarball
        apt = self._apt_options()
        version = self.base.version
        spec = f'{pkg}={version}'
        log(f'fetching {spec} (apt-get download, no root needed)')
        try:
            apt_download(spec, dl, apt)
        except BuildError:
            version = self._newest_version(apt)
            log(f'WARNING: {spec} is gone from the archive; using the '
                f'newest {self.base.kernel_series}, {version}. Results may '
                'differ from BASE.')
            apt_download(f'{pkg}={version}', dl, apt)
        debs = sorted(dl.glob(f'{pkg}_*.deb'),
                      key=lambda p: p.stat().st_mtime)
        deb = debs[-1]
        inner = f'./usr/src/{pkg}.tar.xz'
        with open(tarball, 'wb') as out:
            p1 = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(deb)],
                                  stdout=subprocess.PIPE)
            subprocess.run(['tar', '-xO', inner], stdin=p1.stdout,
                           stdout=out, check=True)
            p1.wait()
        digest = _sha256(tarball)
        if version == self.base.version and \
                digest != self.base.tarball_sha256:
            raise BuildError(f'{tarball}: sha256 {digest}, BASE pins '
                             f'{self.base.tarball_sha256}')
        deb.unlink()
        return tarball

    def _newest_version(self, apt: list[str]) -> str:
        out = run(['apt-cache', *apt, 'madison', self.base.package])
        versions = [line.split('|')[1].strip() for line in out.splitlines()
                    if '|' in line]
        if not versions:
            raise BuildError(f'{self.base.package} is not in the archive '
                             '(did apt-get update run?)')
        return versions[0]

    def uapi_include(self) -> Path:
        """The base's user-space API headers (make headers_install), for
        the guest programs: Debian 12's libc headers have no drm.h and
        predate 7.3's (drm_mode.h includes linux/bits.h)."""
        base = self.ensure_base()
        out = self.build_dir / self.base.name / 'uapi'
        stamp = out / '.oomgpu-base'
        if stamp.exists() and stamp.read_text().strip() == base:
            return out / 'include'
        src = self.reset(base)
        if out.exists():
            shutil.rmtree(out)
        run(['make', '-s', 'ARCH=x86_64', f'O={OUT_DIR}-uapi',
             'headers_install', f'INSTALL_HDR_PATH={out}'], cwd=src)
        stamp.write_text(base + '\n')
        return out / 'include'

    def kselftests(self) -> list[tuple[str, Path]]:
        """The kernel's own selftests the guests run (KSELFTESTS), built
        static from the source tree with the base's uapi headers by their
        own Makefile (incrementally, into build/<base>/kselftest/), and the
        emugpu collection (emugpu_collection()); returns (path in the guest
        image, file) pairs. Every flavour carries the series' test patches
        (hmm-tests' hmm_oom cases and lib/test_hmm.c's busy ranges) and the
        driver's selftests, so every flavour's tree state builds the same
        programs."""
        include = self.uapi_include()
        if not self._state.exists():
            # The bare base, as uapi_include() leaves the tree the first
            # time: hmm-tests would be built without the series' cases
            # (a clean clone's kselftest-mm-hmm-oom ran 0 tests).
            self.ensure_worktree('patched', self.ensure_base())
        out = self.build_dir / self.base.name / 'kselftest'
        pairs = []
        for directory, names in KSELFTESTS:
            dest = out / directory
            dest.mkdir(parents=True, exist_ok=True)
            run(['make', '-s', '-C', f'tools/testing/selftests/{directory}',
                 'USERLDFLAGS=-static', f'KHDR_INCLUDES=-isystem {include}',
                 f'OUTPUT={dest}', *[str(dest / n) for n in names]],
                cwd=self.work)
            pairs += [(f'kselftest/{directory}/{n}', dest / n) for n in names]
        return pairs + self.emugpu_collection()

    def emugpu_collection(self) -> list[tuple[str, Path]]:
        """The driver's kselftest target (SELFTESTS_DIR, placed with the
        driver), built static and installed as a user of the tree would:
        make -C tools/testing/selftests TARGETS=drivers/gpu/emugpu install,
        into build/<base>/kselftest-install/ (run_kselftest.sh, its
        runner, kselftest-list.txt, the programs). The guests run the
        installed programs, and the collection with run_kselftest.sh.
        Returns the installed files as (path under kselftest/, file)."""
        if not (self.work / SELFTESTS_DIR).exists():
            self.ensure_worktree('patched', self.ensure_base())
        include = self.uapi_include()
        here = self.build_dir / self.base.name
        install = here / 'kselftest-install'
        if install.exists():
            shutil.rmtree(install)
        # emugpu_drm.h (driver/include/uapi/drm) includes "drm.h"
        headers = [include, include / 'drm',
                   self.top / 'driver' / 'include' / 'uapi']
        run(['make', '-s', '-C', 'tools/testing/selftests',
             f'TARGETS={SELFTESTS_TARGET}', 'USERLDFLAGS=-static',
             'KHDR_INCLUDES=' + ' '.join(f'-isystem {h}' for h in headers),
             f'O={here / "kselftest-build"}',
             f'KSFT_INSTALL_PATH={install}', 'install'], cwd=self.work)
        return [(f'kselftest/{p.relative_to(install)}', p)
                for p in sorted(install.rglob('*')) if p.is_file()]

    # -- flavours -------------------------------------------------------

    def patch_files(self, pairs: tuple[tuple[str, str], ...]) -> list[Path]:
        """The patches that (series directory, list file) pairs name."""
        files: list[Path] = []
        for name, listing in pairs:
            series = self.base.directory / name / listing
            if not series.exists():
                continue   # not written yet: the flavour goes without it
            for entry in series.read_text().split():
                files.append(self.base.directory / name / entry)
        return files

    def series_files(self, flavour: str) -> list[Path]:
        return self.patch_files(self.base.flavour_series(flavour))

    def after_driver_files(self) -> list[Path]:
        return self.patch_files(self.base.after_driver)

    def ensure_worktree(self, flavour: str, base: str) -> Path:
        """The source tree in the flavour's state: its series, the driver
        and what adapts the driver to the base."""
        return self.patched_worktree(flavour, base,
                                     self.series_files(flavour), driver=True)

    def patched_worktree(self, name: str, base: str, patches: list[Path],
                         driver: bool) -> Path:
        """The source tree at @base with @patches applied (and the driver
        placed on top if @driver), for @name; set up again only when the
        tree is in another state or the content changed, and then only
        files that differ are rewritten."""
        after = self.after_driver_files() if driver else []
        h = hashlib.sha256(base.encode())
        placed = self.driver_files() + self.selftest_files() if driver \
            else []
        for p in patches + placed + after:
            h.update(p.name.encode() + p.read_bytes())
        want = h.hexdigest()
        if self._state.exists() and self._state.read_text().strip() == want \
                and self.work.exists():
            return self.work
        wt = self.reset(base)
        if patches:
            log(f'{self.base.name} {name}: git am {len(patches)} patches')
            run(['git', 'am', '-q', '--no-gpg-sign', '--keep-cr',
                 *map(str, patches)], cwd=wt, env=_GIT_IDENTITY)
        if driver:
            self.place_driver(wt)
        if after:
            run(['git', 'am', '-q', '--no-gpg-sign', '--keep-cr',
                 *map(str, after)], cwd=wt, env=_GIT_IDENTITY)
        self._state.write_text(want + '\n')
        return wt

    def driver_files(self) -> list[Path]:
        """driver/'s kernel sources, then its uapi header."""
        driver = self.top / 'driver'
        files = [p for p in sorted(driver.iterdir())
                 if p.is_file() and p.name != 'COMMIT_MSG']
        return files + [driver / DRIVER_UAPI, driver / 'COMMIT_MSG']

    def selftest_files(self) -> list[Path]:
        """driver/selftests/: the kselftest target's files, then its
        commit message."""
        tests = self.top / 'driver' / 'selftests'
        files = [p for p in sorted(tests.iterdir())
                 if p.is_file() and p.name != 'COMMIT_MSG']
        return files + [tests / 'COMMIT_MSG']

    def place_driver(self, wt: Path) -> None:
        """Copies driver/ into @wt at DRIVER_DIR, hooks it into the DRM
        Kconfig and Makefile, and commits it, so `git format-patch -1`
        in the worktree is the driver's patch."""
        dest = wt / DRIVER_DIR
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.driver_files()[:-2]:
            shutil.copy2(f, dest / f.name)
        shutil.copy2(self.top / 'driver' / DRIVER_UAPI, wt / DRIVER_UAPI)
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
             DRIVER_SUBJECT + '\n\n' + (self.top / 'driver' /
                                         'COMMIT_MSG').read_text()],
            cwd=wt, env=_GIT_IDENTITY)
        self._place_selftests(wt)

    def _place_selftests(self, wt: Path) -> None:
        """driver/selftests/ into @wt at SELFTESTS_DIR, added to the
        kselftest TARGETS, in a commit of its own."""
        dest = wt / SELFTESTS_DIR
        dest.mkdir(parents=True, exist_ok=True)
        for f in self.selftest_files()[:-1]:
            shutil.copy2(f, dest / f.name)
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
            cwd=wt, env=_GIT_IDENTITY)

    def reset(self, commit: str) -> Path:
        """Puts the source tree at @commit (creating the worktree with
        KSRC=) and returns it. Only files that differ are rewritten, and
        they get a new mtime, so every flavour's build that used them
        rebuilds them (from ccache when it has seen them)."""
        self.worktrees.mkdir(parents=True, exist_ok=True)
        self._state.unlink(missing_ok=True)
        self._drop_old_worktrees()
        wt = self.work
        if not wt.exists():
            run(['git', '-C', str(self.repo), 'worktree', 'prune'])
            run(['git', '-C', str(self.repo), 'worktree', 'add', '-q',
                 '--detach', str(wt), commit])
            return wt
        subprocess.run(['git', 'am', '--abort'], cwd=wt, capture_output=True)
        run(['git', 'checkout', '-q', '-f', '--detach', commit], cwd=wt)
        # Keep the build output: the next build is incremental.
        run(['git', 'clean', '-q', '-fdx', '-e', f'/{OUT_DIR}*'], cwd=wt)
        return wt

    def _drop_old_worktrees(self) -> None:
        """Removes the one-worktree-per-flavour layout of older versions
        (1.5 GB each), unregistering them from the repository."""
        for old in self.worktrees.iterdir():
            if old.is_dir() and old != self.work:
                log(f'removing {old} (one source tree per base now)')
                subprocess.run(['git', '-C', str(self.repo), 'worktree',
                                'remove', '--force', str(old)],
                               capture_output=True)
                shutil.rmtree(old, ignore_errors=True)
            elif old.suffix == '.stamp':
                old.unlink()
        run(['git', '-C', str(self.repo), 'worktree', 'prune'])

    # -- configuration and build -----------------------------------------

    @staticmethod
    def output_dir(src: Path, name: str) -> Path:
        """Where @src is built for @name: a direct subdirectory of the
        source tree, so that kbuild names the sources by relative paths
        (srctree is ..) and every flavour compiles the same command lines:
        ccache then shares the objects of baseline, patched and the bisect
        builds, and of any clone's builds."""
        return src / f'{OUT_DIR}-{name}'

    def config_text(self, platform: Platform = UML,
                    fragments: tuple[str, ...] = CONFIG_FRAGMENTS) -> str:
        """@fragments, then @platform's and the base's for it, merged: what
        configure() writes as .config before olddefconfig."""
        names = fragments + platform.fragments + \
            platform.base_fragments(self.base)
        return merge_fragments([(self.top / 'kernel-config' / f).read_text()
                                for f in names])

    def configure(self, flavour: str, src: Path, validate: bool = True,
                  fragments: tuple[str, ...] = CONFIG_FRAGMENTS,
                  name: str = '', platform: Platform = UML) -> Path:
        """Writes the fragments, then @platform's and the base's for it, as
        .config in @src's output directory and runs olddefconfig; with
        @validate, fails if a fragment line was lost. A later fragment's
        CONFIG_X replaces an earlier one's."""
        out = self.output_dir(src, name or platform.output_name(flavour))
        out.mkdir(parents=True, exist_ok=True)
        text = self.config_text(platform, fragments)
        stamp = out / '.oomgpu-config'
        if stamp.exists() and stamp.read_text() == text and \
                (out / '.config').exists():
            return out
        (out / '.config').write_text(text)
        run(['make', '-s', f'ARCH={platform.arch}', f'O={out.name}',
             'olddefconfig'], cwd=src)
        missing = check_config(text, (out / '.config').read_text())
        if missing and validate:
            raise BuildError(
                f'{flavour}: these fragment lines did not survive olddefconfig'
                ' (a hidden symbol must be selected from Kconfig, or a'
                ' dependency is missing):\n  ' + '\n  '.join(missing))
        stamp.write_text(text)
        return out

    def build(self, flavour: str, platform: Platform = UML) -> Path:
        """Builds the flavour's kernel for @platform (the UML binary, or
        x86_64's bzImage); returns its path."""
        base = self.ensure_base()
        src = self.ensure_worktree(flavour, base)
        out = self.configure(flavour, src, platform=platform)
        log(f'{self.base.name} {flavour}: building {platform.name} in {out}')
        self.make(out, src, platform)
        return out / platform.image

    def build_driver_module(self) -> Path:
        """Builds the patched tree with emugpu as a module (=m), as a
        distribution would; returns the path of emugpu.ko."""
        base = self.ensure_base()
        src = self.ensure_worktree('patched', base)
        out = self.configure('module', src, fragments=MODULE_FRAGMENTS,
                             name='module')
        log(f'{self.base.name} module: building UML with emugpu=m in {out}')
        self.make(out, src)
        ko = out / DRIVER_DIR / 'emugpu.ko'
        if not ko.exists():
            raise BuildError(f'{ko} was not built')
        return ko

    def export_driver_patch(self, dest: Path) -> list[Path]:
        """The driver's commit and its selftests' on top of the patched
        flavour, as patches for dri-devel (git format-patch)."""
        base = self.ensure_base()
        src = self.ensure_worktree('patched', base)
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob('*.patch'):
            old.unlink()
        # The driver's own commit: below it the series, above it what
        # adapts the driver to an older base.
        commit = f'HEAD~{len(self.after_driver_files())}'
        names = run(['git', 'format-patch', '-2', '-o', str(dest),
                     f'--base={base}', commit], cwd=src).split()
        return [Path(n) for n in names]

    def make(self, out: Path, src: Path, platform: Platform = UML) -> None:
        """Builds (incrementally) the kernel of @src in @out."""
        jobs = os.cpu_count() or 1
        cmd = ['make', '-s', f'-j{jobs}', f'ARCH={platform.arch}',
               f'O={out.name}']
        env = {}
        if shutil.which('ccache'):
            cmd.append('CC=ccache gcc')
            # Absolute paths under the source tree become relative, and
            # the directory is not hashed: every clone shares.
            env['CCACHE_BASEDIR'] = str(src)
            env['CCACHE_NOHASHDIR'] = '1'
        start = time.monotonic()
        run(cmd, cwd=src, env=env)
        log(f'{self.base.name} {out.name[len(OUT_DIR) + 1:]}: built in '
            f'{time.monotonic() - start:.0f} s')


def merge_fragments(texts: list[str]) -> str:
    """Concatenates config fragments; where a later one sets a symbol an
    earlier one set, the earlier line goes, so validation checks what
    was meant."""
    later: set[str] = set()
    kept: list[list[str]] = []
    for text in reversed(texts):
        lines = []
        for line in text.splitlines(keepends=True):
            m = re.match(r'^(?:# )?(CONFIG_\w+)[= ]', line)
            if m and m.group(1) in later:
                continue
            lines.append(line)
        for line in lines:
            m = re.match(r'^(?:# )?(CONFIG_\w+)[= ]', line)
            if m:
                later.add(m.group(1))
        kept.append(lines)
    return ''.join(''.join(lines) for lines in reversed(kept))


def check_config(fragment: str, config: str) -> list[str]:
    """Fragment lines the final .config does not carry (as kunit.py checks).

    "CONFIG_X=n" and "# CONFIG_X is not set" both mean X must be unset.
    """
    have: dict[str, str] = {}
    for line in config.splitlines():
        m = re.match(r'^(CONFIG_\w+)=(.*)$', line)
        if m:
            have[m.group(1)] = m.group(2)
    missing = []
    for line in fragment.splitlines():
        line = line.strip()
        m = re.match(r'^(CONFIG_\w+)=(.*)$', line)
        off = re.match(r'^# (CONFIG_\w+) is not set$', line)
        if m and m.group(2) != 'n':
            if have.get(m.group(1)) != m.group(2):
                missing.append(line)
        elif (m and m.group(2) == 'n') or off:
            key = (m or off).group(1)   # type: ignore[union-attr]
            if key in have:
                missing.append(line)
    return missing
