"""A base's kernel source: Debian's linux-source-X.Y, fetched and pinned.

The source of a base (bases.py: 7.3 by default, 6.12 as the LTS) is
Debian's linux-source-X.Y, pinned in kernel-patches/<base>/BASE, fetched
without root (apt-get download + dpkg-deb, through a private apt
configuration under build/apt/ when the base lives in another Debian
suite: the machine's apt sources are never changed) and committed once as
a git base with fixed metadata, so the base commit id is the same on
every machine and matches the series' base-commit: lines.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from pathlib import Path

from .bases import Base
from .errors import BuildError, log, run
from .phases import phase

# Fixed identity and dates: the base commit and every commit the runner
# makes on top are the same on every machine.
GIT_IDENTITY = {
    'GIT_AUTHOR_NAME': 'oomgpu', 'GIT_AUTHOR_EMAIL': 'oomgpu@localhost',
    'GIT_COMMITTER_NAME': 'oomgpu', 'GIT_COMMITTER_EMAIL': 'oomgpu@localhost',
    'GIT_AUTHOR_DATE': '2000-01-01T00:00:00Z',
    'GIT_COMMITTER_DATE': '2000-01-01T00:00:00Z',
}


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


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


class DebianSource:
    """build/<base>/linux: the base's source committed as one commit."""

    def __init__(self, build: Path, base: Base):
        self.build_dir = build
        self.base = base
        self.repo = build / base.name / 'linux'
        self._stamp = build / base.name / 'linux.base'

    def ensure(self) -> str:
        """Returns the base commit id, creating the repository if needed."""
        if self._stamp.exists() and (self.repo / '.git').exists():
            return self._stamp.read_text().strip()
        with phase(f'fetch {self.base.package}'):
            tarball = self._fetch_tarball()
        with phase(f'unpack and commit {self.base.package}'):
            return self._commit(tarball)

    def _commit(self, tarball: Path) -> str:
        log(f'unpacking {tarball.name} into {self.repo}')
        if self.repo.exists():
            shutil.rmtree(self.repo)
        # The flavours' worktrees belonged to the old repository
        # (sourcetree.py): they go with it
        shutil.rmtree(self.build_dir / self.base.name / 'src',
                      ignore_errors=True)
        self.repo.mkdir(parents=True)
        run(['tar', '-xf', str(tarball), '-C', str(self.repo),
             '--strip-components=1'])
        env = dict(GIT_IDENTITY)
        run(['git', 'init', '-q', '-b', 'base'], cwd=self.repo)
        # Debian's .gitignore ignores the whole top level: force-add.
        run(['git', 'add', '-A', '-f'], cwd=self.repo, env=env)
        run(['git', 'commit', '-q', '--no-gpg-sign', '-m',
             f'Linux {self._kernel_version()} ({self.base.package} '
             f'{self.base.version})'], cwd=self.repo, env=env)
        commit = run(['git', 'rev-parse', 'HEAD'], cwd=self.repo).strip()
        self._stamp.write_text(commit + '\n')
        return commit

    def _kernel_version(self) -> str:
        mk = (self.repo / 'Makefile').read_text()
        parts = [re.search(rf'^{k} = (\S*)', mk, re.M) for k in
                 ('VERSION', 'PATCHLEVEL', 'SUBLEVEL')]
        return '.'.join(p.group(1) for p in parts if p)

    def _apt_options(self) -> list[str]:
        """apt-get options for the base's suite: a private sources list,
        state and cache under build/apt/<suite>, naming the archive the
        machine's apt already uses. No suite: apt's own configuration."""
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
        if tarball.exists() and sha256(tarball) == self.base.tarball_sha256:
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
        digest = sha256(tarball)
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
