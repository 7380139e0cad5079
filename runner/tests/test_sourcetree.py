"""A worktree per flavour: set up once, left alone when nothing changed,
and only the driver placed again when only the driver changed (so the
files the series touched keep their modification times and a kernel
build recompiles nothing of theirs). On a toy tree with the hooks the
driver's placement looks for."""

import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from unittest import mock

from oomgpu.debsrc import GIT_IDENTITY
from oomgpu.placement import DRIVER_DIR, Driver
from oomgpu.sourcetree import SourceTrees

HOOKS = {
    'drivers/gpu/drm/Kconfig': 'source "drivers/gpu/drm/vkms/Kconfig"\n',
    'drivers/gpu/drm/Makefile': 'obj-$(CONFIG_DRM_VGEM)\t+= vgem/\n',
    'tools/testing/selftests/Makefile': 'TARGETS += drivers/dma-buf\n',
    'mm/oom_kill.c': 'int reap;\n',
    'include/uapi/drm/drm.h': '/* drm */\n',
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(['git', *args], cwd=cwd, check=True, text=True,
                          capture_output=True,
                          env=dict(os.environ, **GIT_IDENTITY)).stdout


class SourceTreesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        repo = self.tmp / 'linux'
        for rel, text in HOOKS.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_text(text)
        git(repo, 'init', '-q', '-b', 'base')
        git(repo, 'add', '-A')
        git(repo, 'commit', '-q', '-m', 'base')
        self.base = git(repo, 'rev-parse', 'HEAD').strip()
        # a one-patch series
        (repo / 'mm/oom_kill.c').write_text('int reap_around;\n')
        git(repo, 'commit', '-q', '-am', 'mm: reap around')
        patches = self.tmp / 'series'
        git(repo, 'format-patch', '-q', '-1', '-o', str(patches))
        git(repo, 'reset', '-q', '--hard', self.base)
        self.patches = sorted(patches.glob('*.patch'))
        # driver/ as in the oomgpu checkout
        top = self.tmp / 'top'
        drv = top / 'driver'
        (drv / 'include/uapi/drm').mkdir(parents=True)
        (drv / 'selftests').mkdir()
        (drv / 'emugpu_drv.c').write_text('int drv;\n')
        (drv / 'emugpu_vm.c').write_text('int vm;\n')
        (drv / 'COMMIT_MSG').write_text('the driver\n')
        (drv / 'include/uapi/drm/emugpu_drm.h').write_text('/* uapi */\n')
        (drv / 'selftests/emugpu_basic.c').write_text('int main;\n')
        (drv / 'selftests/COMMIT_MSG').write_text('its tests\n')
        self.driver = Driver(top)
        self.trees = SourceTrees(repo, self.tmp / 'src', own_repo=True)

    def ensure(self) -> Path:
        with mock.patch('oomgpu.sourcetree.log'):
            return self.trees.ensure('patched', self.base, self.patches,
                                     self.driver, [])

    def test_nothing_changed_touches_nothing(self) -> None:
        wt = self.ensure()
        self.assertEqual((wt / 'mm/oom_kill.c').read_text(),
                         'int reap_around;\n')
        self.assertEqual((wt / DRIVER_DIR / 'emugpu_drv.c').read_text(),
                         'int drv;\n')
        head = git(wt, 'rev-parse', 'HEAD')
        mtime = (wt / 'mm/oom_kill.c').stat().st_mtime_ns
        self.assertEqual(self.ensure(), wt)
        self.assertEqual(git(wt, 'rev-parse', 'HEAD'), head)
        self.assertEqual((wt / 'mm/oom_kill.c').stat().st_mtime_ns, mtime)

    def test_a_driver_edit_places_the_driver_again_only(self) -> None:
        wt = self.ensure()
        series_file = wt / 'mm/oom_kill.c'
        other = wt / DRIVER_DIR / 'emugpu_vm.c'
        series_time = series_file.stat().st_mtime_ns
        before = other.stat().st_mtime_ns
        (self.driver.dir / 'emugpu_drv.c').write_text('int drv2;\n')
        self.ensure()
        self.assertEqual((wt / DRIVER_DIR / 'emugpu_drv.c').read_text(),
                         'int drv2;\n')
        # the series was not applied again, the other driver file not
        # rewritten with a new time
        self.assertEqual(series_file.stat().st_mtime_ns, series_time)
        self.assertEqual(other.stat().st_mtime_ns, before)
        log = git(wt, 'log', '--format=%s')
        self.assertEqual(log.count('mm: reap around'), 1)
        self.assertEqual(git(wt, 'status', '--porcelain'), '')

    def test_a_file_edited_during_a_build_is_compiled_again(self) -> None:
        # The edit's time precedes the object file a build then made
        # from the old content: the placed copy must be newer than that.
        wt = self.ensure()
        src = self.driver.dir / 'emugpu_drv.c'
        src.write_text('int drv3;\n')
        os.utime(src, (1_000_000_000, 1_000_000_000))
        self.ensure()
        placed = wt / DRIVER_DIR / 'emugpu_drv.c'
        self.assertEqual(placed.read_text(), 'int drv3;\n')
        self.assertGreater(placed.stat().st_mtime, 1_000_000_000 + 3600)

    def test_a_changed_series_is_applied_from_the_base(self) -> None:
        wt = self.ensure()
        patch = self.patches[0]
        patch.write_text(patch.read_text().replace('reap_around',
                                                   'reap_again'))
        self.ensure()
        self.assertEqual((wt / 'mm/oom_kill.c').read_text(),
                         'int reap_again;\n')

    def test_check_tree_is_the_repository_checkout(self) -> None:
        self.assertEqual(self.trees.path('check'), self.trees.repo)
        self.assertEqual(self.trees.path('patched'),
                         self.tmp / 'src' / 'patched')


if __name__ == '__main__':
    unittest.main()
