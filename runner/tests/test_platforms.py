"""Platforms: which base builds for which, their fragments, the QEMU command
line, and the catalogue's platforms field."""

import tempfile
import unittest
from pathlib import Path

from oomgpu import bases, qemu
from oomgpu.kbuild import check_config, merge_fragments
from oomgpu.platforms import UML, X86_64, of_base
from oomgpu.scenarios import load_catalogue
from oomgpu.uml import run_guest

TOP = Path(__file__).resolve().parents[2]
CONFIGS = TOP / 'kernel-config'


class PlatformsOfBases(unittest.TestCase):
    def test_7_3_has_x86_64_and_6_12_uml_only(self):
        found = bases.all_bases(TOP)
        self.assertEqual([p.name for p in of_base(found['7.3'])],
                         ['uml', 'x86_64'])
        self.assertEqual([p.name for p in of_base(found['6.12'])], ['uml'])

    def test_every_fragment_named_exists(self):
        for base in bases.all_bases(TOP).values():
            for p in of_base(base):
                for name in p.fragments + p.base_fragments(base):
                    self.assertTrue((CONFIGS / name).exists(), name)

    def test_uml_output_directory_keeps_its_name(self):
        # Build directories and ccache of earlier runs stay valid.
        self.assertEqual(UML.output_name('patched'), 'patched')
        self.assertEqual(X86_64.output_name('patched'), 'x86_64-patched')

    def test_no_uml_symbol_in_the_shared_fragments(self):
        # An x86_64 .config cannot carry them: validation would fail.
        for name in ('base.config', 'debug.config', 'x86_64.config'):
            text = (CONFIGS / name).read_text()
            self.assertNotRegex(text, r'CONFIG_(UML|VIRTIO_UML|STDERR_CONSOLE'
                                r'|NULL_CHAN)\w*=', name)

    def test_a_lost_x86_64_line_is_reported(self):
        text = merge_fragments([(CONFIGS / 'x86_64.config').read_text()])
        self.assertIn('CONFIG_TRANSPARENT_HUGEPAGE=y',
                      check_config(text, 'CONFIG_SMP=y\n'))


class QemuCommand(unittest.TestCase):
    def test_tcg_boots_the_initramfs_with_the_serial_console(self):
        cmd = qemu.command(Path('/b/bzImage'), Path('/i.cpio.gz'), '256M',
                           ['oomgpu.scenario=boot'], 'tcg')
        self.assertEqual(cmd[0], 'qemu-system-x86_64')
        self.assertIn('tcg,thread=multi', cmd)
        self.assertIn('-no-reboot', cmd)
        self.assertEqual(cmd[cmd.index('-m') + 1], '256M')
        self.assertEqual(cmd[cmd.index('-initrd') + 1], '/i.cpio.gz')
        append = cmd[cmd.index('-append') + 1].split()
        self.assertEqual(append[:2], ['console=ttyS0', 'panic=-1'])
        self.assertIn('oomgpu.scenario=boot', append)

    def test_kvm_uses_the_host_cpu(self):
        cmd = qemu.command(Path('/b'), Path('/i'), '1G', [], 'kvm')
        self.assertEqual(cmd[cmd.index('-cpu') + 1], 'host')
        self.assertEqual(cmd[cmd.index('-accel') + 1], 'kvm')


class StalledBoots(unittest.TestCase):
    """run_guest(start_within=) stops a guest that never starts /init."""

    def _run(self, script: str, within: float):
        with tempfile.TemporaryDirectory() as tmp:
            return run_guest(['sh', '-c', script], None, 30,
                             Path(tmp) / 'log', start_within=within)

    def test_a_guest_that_never_starts_init_is_stopped(self):
        b = self._run('echo booting; sleep 20', 0.5)
        self.assertTrue(b.stalled)
        self.assertFalse(b.timed_out)
        self.assertLess(b.wall_seconds, 10)

    def test_a_guest_that_started_init_runs_on(self):
        b = self._run('echo oomgpu-init: running x; sleep 1; '
                      'echo oomgpu-init: exit 0', 0.5)
        self.assertFalse(b.stalled)
        self.assertEqual(b.init_exit, 0)


class CataloguePlatforms(unittest.TestCase):
    ENTRY = ('[x]\nsummary = "s"\ngroups = ["oom"]\nmem = "1M"\n'
             'timeout = 1\ntime_travel = false\n')

    def _load(self, extra: str):
        with tempfile.NamedTemporaryFile('w', suffix='.toml') as f:
            f.write(self.ENTRY + extra)
            f.flush()
            return load_catalogue(Path(f.name))

    def test_default_is_uml(self):
        self.assertEqual(self._load('').scenarios['x'].platforms, ('uml',))

    def test_unknown_platform_is_refused(self):
        with self.assertRaisesRegex(ValueError, 'platforms'):
            self._load('platforms = ["arm64"]\n')
        with self.assertRaisesRegex(ValueError, 'platforms'):
            self._load('platforms = []\n')

    def test_thp_scenario_runs_on_x86_64_only(self):
        cat = load_catalogue(TOP / 'tests' / 'scenarios.toml')
        for name in ('gpu-mrelease-thp-xe', 'gpu-mrelease-thp-nocancel'):
            self.assertEqual(cat.scenarios[name].platforms, ('x86_64',))
            self.assertTrue(cat.scenarios[name].reproduces)


if __name__ == '__main__':
    unittest.main()
