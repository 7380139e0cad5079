"""Kernel flavours of a base: a source tree each, configured and built.

Tree puts together what the other modules do: the base's source
(debsrc.py: Debian's linux-source-X.Y, or your KSRC= tree), a worktree per
flavour in the flavour's state (sourcetree.py), the driver placed in it
(placement.py), the .config from kernel-config/ fragments (kconfig.py),
and the build. Each kernel builds in its own output directory inside its
flavour's tree (.oomgpu-out-<platform>-<flavour>), with ccache when
present. A kernel whose series, driver and configuration are what it was
built from is not touched at all: no git am, no make, no relink.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from .bases import FLAVOURS, Base  # noqa: F401  (re-exported)
from .debsrc import DebianSource, apt_download
from .errors import BuildError, log, run
from .kconfig import CONFIG_STAMP, check_config, configure, \
    merge_fragments, settings
from .phases import phase
from .placement import DRIVER_DIR, DRIVER_UAPI, SELFTESTS_DIR, \
    SELFTESTS_TARGET, Driver
from .platforms import UML, Platform
from .sourcetree import CHECK, OUT_DIR, SourceTrees, digest, \
    driver_digest, series_digest

CONFIG_FRAGMENTS = ('base.config', 'debug.config')
# The kernel's own selftests in the guest image, by directory under
# tools/testing/selftests: the HMM tests (lib/test_hmm.c, x86_64) and the
# process_mrelease(2) test.
KSELFTESTS = (('mm', ('hmm-tests', 'mrelease_test')),)
# The driver as a module: the build check of `make check`.
MODULE_FRAGMENTS = ('base.config', 'module.config')
# In a kernel's output directory: what it was last built from
BUILT_STAMP = '.oomgpu-built'
__all__ = ['FLAVOURS', 'Base', 'Tree', 'BuildError', 'log', 'run',
           'apt_download', 'check_config', 'merge_fragments', 'DRIVER_DIR',
           'DRIVER_UAPI', 'SELFTESTS_DIR', 'SELFTESTS_TARGET']


class Tree:
    """A base's repository and the flavours' source trees."""

    def __init__(self, top: Path, build: Path, base: Base,
                 ksrc: Path | None = None):
        self.top = top
        self.build_dir = build
        self.base = base
        self.ksrc = ksrc
        self.source = DebianSource(build, base)
        self.repo = ksrc if ksrc else self.source.repo
        here = build / base.name
        self.trees = SourceTrees(self.repo,
                                 here / ('ksrc-src' if ksrc else 'src'),
                                 own_repo=ksrc is None, label=base.name)
        self.driver = Driver(top)

    # -- the base -------------------------------------------------------

    def ensure_base(self) -> str:
        """Returns the base commit id, creating the base tree if needed."""
        if self.ksrc:
            return run(['git', '-C', str(self.ksrc), 'rev-parse',
                        'HEAD']).strip()
        return self.source.ensure()

    # -- source trees ---------------------------------------------------

    def worktree(self, flavour: str) -> Path:
        """Where @flavour's source tree is (whatever its state)."""
        return self.trees.path(flavour)

    def reset(self, commit: str, name: str = CHECK) -> Path:
        """Puts the tree @name (default: the one patches-check uses) at
        @commit and returns it."""
        return self.trees.reset(name, commit)

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
        """The flavour's tree in its state: its series, the driver and what
        adapts the driver to the base."""
        return self.patched_worktree(flavour, base,
                                     self.series_files(flavour), driver=True)

    def patched_worktree(self, name: str, base: str, patches: list[Path],
                         driver: bool) -> Path:
        """The tree @name at @base with @patches applied (and the driver
        placed on top if @driver); see SourceTrees.ensure()."""
        return self.trees.ensure(name, base, patches,
                                 self.driver if driver else None,
                                 self.after_driver_files() if driver else [])

    def driver_files(self) -> list[Path]:
        return self.driver.files()

    def selftest_files(self) -> list[Path]:
        return self.driver.selftest_files()

    def place_driver(self, wt: Path) -> None:
        self.driver.place(wt)

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

    # -- configuration and build -----------------------------------------

    @staticmethod
    def output_dir(src: Path, name: str) -> Path:
        """Where @src is built for @name: a direct subdirectory of the
        source tree, so that kbuild names the sources by relative paths
        (srctree is ..) and every kernel compiles the same command lines:
        ccache then shares the objects of every flavour's tree, and of
        any clone's builds."""
        return src / f'{OUT_DIR}-{name}'

    def kernel_dir(self, flavour: str, platform: Platform = UML) -> Path:
        """The output directory of @flavour's kernel for @platform."""
        return self.output_dir(self.worktree(flavour),
                               platform.output_name(flavour))

    def config_text(self, platform: Platform = UML,
                    fragments: tuple[str, ...] = CONFIG_FRAGMENTS) -> str:
        """@fragments, then @platform's and the base's for it, merged: what
        configure() makes the .config from."""
        names = fragments + platform.fragments + \
            platform.base_fragments(self.base)
        return merge_fragments([(self.top / 'kernel-config' / f).read_text()
                                for f in names])

    def configure(self, flavour: str, src: Path, validate: bool = True,
                  fragments: tuple[str, ...] = CONFIG_FRAGMENTS,
                  name: str = '', platform: Platform = UML) -> Path:
        """.config in @src's output directory for @flavour (or @name) from
        @fragments and @platform's; with @validate, fails if a fragment line
        was lost."""
        out = self.output_dir(src, name or platform.output_name(flavour))
        configure(src, out, self.config_text(platform, fragments),
                  platform.arch, platform.kconfig, name or flavour, validate)
        return out

    def _built_from(self, flavour: str, platform: Platform) -> str:
        """What @flavour's kernel for @platform is built from: the series
        and driver state of its tree, and its configuration."""
        # The same digests as the tree's state (sourcetree.py)
        series = series_digest(self.ensure_base(), self.series_files(flavour))
        drv = driver_digest(self.driver_files() + self.selftest_files() +
                            self.after_driver_files())
        return digest(series.encode(), drv.encode(), platform.name.encode(),
                      platform.kconfig.encode(),
                      settings(self.config_text(platform)).encode())

    def up_to_date(self, flavour: str, platform: Platform = UML) -> bool:
        """Whether @flavour's kernel for @platform was built from exactly
        the series, driver and configuration asked for now."""
        out = self.kernel_dir(flavour, platform)
        stamp = out / BUILT_STAMP
        return (out / platform.image).exists() and stamp.exists() and \
            stamp.read_text().strip() == self._built_from(flavour, platform)

    def build(self, flavour: str, platform: Platform = UML) -> Path:
        """Builds the flavour's kernel for @platform (the UML binary, or
        x86_64's bzImage), unless it is up to date; returns its path."""
        out = self.kernel_dir(flavour, platform)
        if self.up_to_date(flavour, platform):
            log(f'{self.base.name} {flavour}: {platform.name} kernel is up '
                'to date')
            return out / platform.image
        want = self._built_from(flavour, platform)
        (out / BUILT_STAMP).unlink(missing_ok=True)
        src = self.ensure_worktree(flavour, self.ensure_base())
        out = self.configure(flavour, src, platform=platform)
        log(f'{self.base.name} {flavour}: building {platform.name} in {out}')
        with phase(f'build {self.base.name} {platform.name} {flavour}'):
            self.make(out, src, platform)
        (out / BUILT_STAMP).write_text(want + '\n')
        return out / platform.image

    def forget_build(self, flavour: str, platform: Platform = UML
                     ) -> dict[str, str]:
        """Makes the next build() of @flavour configure and run make again
        (kunit.py is about to configure and build in its output
        directory); returns the stamps it removed, for restore_build()."""
        out = self.kernel_dir(flavour, platform)
        stamps = {}
        for name in (BUILT_STAMP, CONFIG_STAMP):
            path = out / name
            if path.exists():
                stamps[name] = path.read_text()
                path.unlink()
        return stamps

    def restore_build(self, flavour: str, platform: Platform,
                      stamps: dict[str, str]) -> None:
        """Puts back what forget_build() removed: kunit.py built the same
        .config from the same tree."""
        out = self.kernel_dir(flavour, platform)
        for name, text in stamps.items():
            (out / name).write_text(text)

    def build_driver_module(self) -> Path:
        """Builds the patched tree with emugpu as a module (=m), as a
        distribution would; returns the path of emugpu.ko."""
        base = self.ensure_base()
        src = self.ensure_worktree('patched', base)
        out = self.configure('module', src, fragments=MODULE_FRAGMENTS,
                             name='module')
        log(f'{self.base.name} module: building UML with emugpu=m in {out}')
        with phase(f'build {self.base.name} uml emugpu=m'):
            self.make(out, src)
        ko = out / DRIVER_DIR / 'emugpu.ko'
        if not ko.exists():
            raise BuildError(f'{ko} was not built')
        return ko

    def make(self, out: Path, src: Path, platform: Platform = UML) -> None:
        """Builds (incrementally) the kernel of @src in @out."""
        jobs = os.cpu_count() or 1
        cmd = ['make', '-s', f'-j{jobs}', f'ARCH={platform.arch}',
               f'O={out.name}']
        cmd += make_ccache_args()
        start = time.monotonic()
        run(cmd, cwd=src, env=ccache_env(src))
        log(f'{self.base.name} {out.name[len(OUT_DIR) + 1:]}: built in '
            f'{time.monotonic() - start:.0f} s')

    # -- what the guests run, built from the tree -------------------------

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
        static from the patched flavour's tree (the series' hmm_oom cases
        are there) with the base's uapi headers by their own Makefile
        (incrementally, into build/<base>/kselftest/), and the emugpu
        collection (emugpu_collection()); returns (path in the guest
        image, file) pairs."""
        include = self.uapi_include()
        src = self.ensure_worktree('patched', self.ensure_base())
        out = self.build_dir / self.base.name / 'kselftest'
        # Built from the patched tree's series, the driver's selftests and
        # uapi header: nothing to do when those are what the last build saw
        # and its files are there (an edited driver .c file changes none)
        stamp = self.build_dir / self.base.name / 'kselftest.built'
        uapi = self.top / 'driver' / DRIVER_UAPI
        want = ' '.join([self.trees.state('patched')[0], str(include),
                         driver_digest(self.selftest_files() + [uapi])])
        if stamp.exists():
            lines = stamp.read_text().splitlines()
            pairs = [tuple(line.split('\t')) for line in lines[1:]]
            if lines and lines[0] == want and \
                    all(Path(f).exists() for _, f in pairs):
                return [(p, Path(f)) for p, f in pairs]
        stamp.unlink(missing_ok=True)
        pairs = []
        for directory, names in KSELFTESTS:
            dest = out / directory
            dest.mkdir(parents=True, exist_ok=True)
            run(['make', '-s', '-C', f'tools/testing/selftests/{directory}',
                 'USERLDFLAGS=-static', f'KHDR_INCLUDES=-isystem {include}',
                 f'OUTPUT={dest}', *[str(dest / n) for n in names]],
                cwd=src)
            pairs += [(f'kselftest/{directory}/{n}', dest / n) for n in names]
        pairs += self.emugpu_collection()
        stamp.write_text('\n'.join([want] + [f'{p}\t{f}' for p, f in pairs])
                         + '\n')
        return pairs

    def emugpu_collection(self) -> list[tuple[str, Path]]:
        """The driver's kselftest target (SELFTESTS_DIR, placed with the
        driver), built static and installed as a user of the tree would:
        make -C tools/testing/selftests TARGETS=drivers/gpu/emugpu install,
        into build/<base>/kselftest-install/ (run_kselftest.sh, its
        runner, kselftest-list.txt, the programs). The guests run the
        installed programs, and the collection with run_kselftest.sh.
        Returns the installed files as (path under kselftest/, file)."""
        src = self.ensure_worktree('patched', self.ensure_base())
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
             f'KSFT_INSTALL_PATH={install}', 'install'], cwd=src)
        return [(f'kselftest/{p.relative_to(install)}', p)
                for p in sorted(install.rglob('*')) if p.is_file()]


def make_ccache_args() -> list[str]:
    return ['CC=ccache gcc'] if shutil.which('ccache') else []


def ccache_env(src: Path) -> dict[str, str]:
    """Absolute paths under the source tree become relative, and the
    directory is not hashed: every tree and every clone share objects.
    Depend mode (unless you chose a mode) keys a result on the
    dependencies the compiler writes (kbuild's -MMD), so a miss runs the
    preprocessor once, not twice: 77 objects of mm/ compiled in 54 s
    against 68 s with an empty cache, and hits from another flavour's
    tree are still hits (lib/: 105 of 106)."""
    if not shutil.which('ccache'):
        return {}
    env = {'CCACHE_BASEDIR': str(src), 'CCACHE_NOHASHDIR': '1'}
    if 'CCACHE_DEPEND' not in os.environ and \
            'CCACHE_NODEPEND' not in os.environ:
        env['CCACHE_DEPEND'] = '1'
    return env
