"""Kernel source, flavours and UML builds.

The source is Debian's linux-source-6.12, pinned in kernel-patches/BASE,
fetched without root (apt-get download + dpkg-deb) and committed once as
a git base with fixed metadata, so the base commit id is the same on every
machine. Each flavour is a git worktree of that base with some of the
series under kernel-patches/ applied by `git am`, built out of tree in
build/out/<flavour>. With KSRC= the user's own git tree is the base instead
and the worktrees are added to it, never touching the user's checkout.
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

# Which series each flavour carries, in order, as (directory, list file).
# "baseline" is upstream plus only what the tests need to run at all: the
# UML fix, the driver, and from the OOM series only the patches named in
# its "baseline" file (the KUnit tests, which change no behaviour), so the
# same tests can show the old behaviour. "patched" has every series.
# Both get the driver from driver/ on top (place_driver()).
FLAVOURS: dict[str, tuple[tuple[str, str], ...]] = {
    'baseline': (('um-xstate', 'series'), ('oom-reap', 'baseline')),
    'patched': (('um-xstate', 'series'), ('oom-reap', 'series')),
}

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
CONFIG_FRAGMENTS = ('base.config', 'debug.config')
# The driver as a module: the build check of `make patches-check`.
MODULE_FRAGMENTS = ('base.config', 'module.config')

_GIT_IDENTITY = {
    'GIT_AUTHOR_NAME': 'oomgpu', 'GIT_AUTHOR_EMAIL': 'oomgpu@localhost',
    'GIT_COMMITTER_NAME': 'oomgpu', 'GIT_COMMITTER_EMAIL': 'oomgpu@localhost',
    'GIT_AUTHOR_DATE': '2000-01-01T00:00:00Z',
    'GIT_COMMITTER_DATE': '2000-01-01T00:00:00Z',
}


class BuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    tarball_sha256: str

    @classmethod
    def read(cls, path: Path) -> 'Pin':
        fields: dict[str, str] = {}
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith('#'):
                key, _, value = line.partition('=')
                fields[key.strip()] = value.strip()
        return cls(fields['package'], fields['version'],
                   fields['tarball-sha256'])


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


def apt_download(spec: str, cwd: Path, attempts: int = 3) -> None:
    """apt-get download, retried a bounded number of times: a passing
    archive hiccup should not fail a 20-minute run."""
    for attempt in range(1, attempts + 1):
        try:
            run(['apt-get', 'download', spec], cwd=cwd)
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
    """The base git tree plus one worktree per flavour."""

    def __init__(self, top: Path, build: Path, ksrc: Path | None = None):
        self.top = top
        self.build_dir = build
        self.ksrc = ksrc
        self.patches = top / 'kernel-patches'
        self.pin = Pin.read(self.patches / 'BASE')
        self.repo = ksrc if ksrc else build / 'linux'
        self.worktrees = build / ('ksrc-src' if ksrc else 'src')
        # Kernels built from another base must not share object files.
        self.outputs = build / ('ksrc-out' if ksrc else 'out')

    # -- the base -------------------------------------------------------

    def ensure_base(self) -> str:
        """Returns the base commit id, creating the base tree if needed."""
        if self.ksrc:
            return run(['git', '-C', str(self.ksrc), 'rev-parse',
                        'HEAD']).strip()
        stamp = self.build_dir / 'linux.base'
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
             f'Linux {self._kernel_version()} ({self.pin.package} '
             f'{self.pin.version})'], cwd=self.repo, env=env)
        base = run(['git', 'rev-parse', 'HEAD'], cwd=self.repo).strip()
        stamp.write_text(base + '\n')
        return base

    def _kernel_version(self) -> str:
        mk = (self.repo / 'Makefile').read_text()
        parts = [re.search(rf'^{k} = (\S*)', mk, re.M) for k in
                 ('VERSION', 'PATCHLEVEL', 'SUBLEVEL')]
        return '.'.join(p.group(1) for p in parts if p)

    def _fetch_tarball(self) -> Path:
        dl = self.build_dir / 'dl'
        dl.mkdir(parents=True, exist_ok=True)
        tarball = dl / 'linux-source-6.12.tar.xz'
        if tarball.exists() and _sha256(tarball) == self.pin.tarball_sha256:
            return tarball
        version = self.pin.version
        spec = f'{self.pin.package}={version}'
        log(f'fetching {spec} (apt-get download, no root needed)')
        try:
            apt_download(spec, dl)
        except BuildError:
            version = self._newest_version()
            log(f'WARNING: {spec} is gone from the archive; using the '
                f'newest 6.12, {version}. Results may differ from BASE.')
            apt_download(f'{self.pin.package}={version}', dl)
        debs = sorted(dl.glob(f'{self.pin.package}_*.deb'),
                      key=lambda p: p.stat().st_mtime)
        deb = debs[-1]
        inner = f'./usr/src/{self.pin.package}.tar.xz'
        with open(tarball, 'wb') as out:
            p1 = subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(deb)],
                                  stdout=subprocess.PIPE)
            subprocess.run(['tar', '-xO', inner], stdin=p1.stdout,
                           stdout=out, check=True)
            p1.wait()
        digest = _sha256(tarball)
        if version == self.pin.version and digest != self.pin.tarball_sha256:
            raise BuildError(f'{tarball}: sha256 {digest}, BASE pins '
                             f'{self.pin.tarball_sha256}')
        deb.unlink()
        return tarball

    def _newest_version(self) -> str:
        out = run(['apt-cache', 'madison', self.pin.package])
        versions = [line.split('|')[1].strip() for line in out.splitlines()
                    if '|' in line]
        if not versions:
            raise BuildError(f'{self.pin.package} is not in the archive '
                             '(did apt-get update run?)')
        return versions[0]

    def uapi_include(self) -> Path:
        """A directory with the base's DRM uapi headers (drm.h and what it
        includes), for the guest programs: Debian's libc headers have no
        drm.h, and emugpu_drm.h includes it."""
        base = self.ensure_base()
        out = self.build_dir / 'uapi'
        out.mkdir(parents=True, exist_ok=True)
        for name in ('drm.h', 'drm_mode.h'):
            text = run(['git', 'show', f'{base}:include/uapi/drm/{name}'],
                       cwd=self.repo)
            dest = out / name
            if not dest.exists() or dest.read_text() != text:
                dest.write_text(text)
        return out

    # -- flavours -------------------------------------------------------

    def series_files(self, flavour: str) -> list[Path]:
        files: list[Path] = []
        for name, listing in FLAVOURS[flavour]:
            series = self.patches / name / listing
            if not series.exists():
                continue   # not written yet: the flavour goes without it
            for entry in series.read_text().split():
                files.append(self.patches / name / entry)
        return files

    def ensure_worktree(self, flavour: str, base: str) -> Path:
        """The flavour's source tree, re-applying the series if changed."""
        wt = self.worktrees / flavour
        patches = self.series_files(flavour)
        h = hashlib.sha256(base.encode())
        for p in patches + self.driver_files():
            h.update(p.name.encode() + p.read_bytes())
        stamp = self.worktrees / f'{flavour}.stamp'
        want = h.hexdigest()
        if stamp.exists() and stamp.read_text().strip() == want and wt.exists():
            return wt
        self.reset_worktree(wt, base)
        if patches:
            log(f'{flavour}: git am {len(patches)} patches')
            run(['git', 'am', '-q', '--no-gpg-sign', '--keep-cr',
                 *map(str, patches)], cwd=wt, env=_GIT_IDENTITY)
        self.place_driver(wt)
        stamp.write_text(want + '\n')
        return wt

    def driver_files(self) -> list[Path]:
        """driver/'s kernel sources, then its uapi header."""
        driver = self.top / 'driver'
        files = [p for p in sorted(driver.iterdir())
                 if p.is_file() and p.name != 'COMMIT_MSG']
        return files + [driver / DRIVER_UAPI, driver / 'COMMIT_MSG']

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

    def reset_worktree(self, wt: Path, commit: str) -> None:
        """Puts worktree @wt at @commit, creating it if needed. Only files
        that differ are rewritten, so builds from it stay incremental."""
        if not wt.exists():
            wt.parent.mkdir(parents=True, exist_ok=True)
            run(['git', '-C', str(self.repo), 'worktree', 'prune'])
            run(['git', '-C', str(self.repo), 'worktree', 'add', '-q',
                 '--detach', str(wt), commit])
            return
        subprocess.run(['git', 'am', '--abort'], cwd=wt, capture_output=True)
        run(['git', 'checkout', '-q', '-f', '--detach', commit], cwd=wt)
        run(['git', 'clean', '-q', '-fdx'], cwd=wt)

    # -- configuration and build -----------------------------------------

    def configure(self, flavour: str, src: Path, validate: bool = True,
                  fragments: tuple[str, ...] = CONFIG_FRAGMENTS) -> Path:
        """Writes the fragments as .config in build/out/@flavour and runs
        olddefconfig; with @validate, fails if a fragment line was lost.
        A later fragment's CONFIG_X replaces an earlier one's."""
        out = self.outputs / flavour
        out.mkdir(parents=True, exist_ok=True)
        text = merge_fragments([(self.top / 'kernel-config' / f).read_text()
                                for f in fragments])
        stamp = out / '.oomgpu-config'
        if stamp.exists() and stamp.read_text() == text and \
                (out / '.config').exists():
            return out
        (out / '.config').write_text(text)
        run(['make', '-s', 'ARCH=um', f'O={out}', 'olddefconfig'], cwd=src)
        missing = check_config(text, (out / '.config').read_text())
        if missing and validate:
            raise BuildError(
                f'{flavour}: these fragment lines did not survive olddefconfig'
                ' (a hidden symbol must be selected from Kconfig, or a'
                ' dependency is missing):\n  ' + '\n  '.join(missing))
        stamp.write_text(text)
        return out

    def build(self, flavour: str) -> Path:
        """Builds the flavour's UML binary; returns its path."""
        base = self.ensure_base()
        src = self.ensure_worktree(flavour, base)
        out = self.configure(flavour, src)
        log(f'{flavour}: building UML in {out}')
        self.make(out, src)
        return out / 'linux'

    def build_driver_module(self) -> Path:
        """Builds the patched tree with emugpu as a module (=m), as a
        distribution would; returns the path of emugpu.ko."""
        base = self.ensure_base()
        src = self.ensure_worktree('patched', base)
        out = self.configure('module', src, fragments=MODULE_FRAGMENTS)
        log(f'module: building UML with emugpu=m in {out}')
        self.make(out, src)
        ko = out / DRIVER_DIR / 'emugpu.ko'
        if not ko.exists():
            raise BuildError(f'{ko} was not built')
        return ko

    def export_driver_patch(self, dest: Path) -> Path:
        """The driver's commit on top of the patched flavour, as a patch
        for dri-devel (git format-patch)."""
        base = self.ensure_base()
        src = self.ensure_worktree('patched', base)
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob('*.patch'):
            old.unlink()
        name = run(['git', 'format-patch', '-1', '-o', str(dest),
                    f'--base={base}', 'HEAD'], cwd=src).strip()
        return Path(name)

    def make(self, out: Path, src: Path) -> None:
        """Builds (incrementally) the kernel of @src in @out."""
        jobs = os.cpu_count() or 1
        cmd = ['make', '-s', f'-j{jobs}', 'ARCH=um', f'O={out}']
        env = {}
        if shutil.which('ccache'):
            cmd.append('CC=ccache gcc')
            # Paths relative to the clone, so another clone hits the cache.
            env['CCACHE_BASEDIR'] = str(self.top)
        start = time.monotonic()
        run(cmd, cwd=src, env=env)
        log(f'{out.name}: built in {time.monotonic() - start:.0f} s')


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
