"""Platforms: which base builds for which, their fragments, the QEMU command
line, and the catalogue's platforms field."""

import tempfile
import unittest
from pathlib import Path

from oomgpu import bases, qemu
from oomgpu.kbuild import check_config, merge_fragments
from oomgpu.platforms import UML, X86_64, X86_64_KASAN, of_base
from oomgpu.judge import judge
from oomgpu.scenarios import Scenario, load_catalogue
from oomgpu.uml import Boot, run_guest, scenario_exit

TOP = Path(__file__).resolve().parents[2]
CONFIGS = TOP / 'kernel-config'


class PlatformsOfBases(unittest.TestCase):
    def test_7_3_has_x86_64_and_6_12_uml_only(self):
        found = bases.all_bases(TOP)
        self.assertEqual([p.name for p in of_base(found['7.3'])],
                         ['uml', 'x86_64', 'x86_64-kasan'])
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
        self.assertEqual(X86_64_KASAN.output_name('patched'),
                         'x86_64-kasan-patched')

    def test_kasan_is_a_patched_checking_kernel(self):
        # Booted by test on the patched flavour; run and bench never
        # measure it; its fragment comes after x86_64.config.
        self.assertEqual(X86_64_KASAN.flavours, ('patched',))
        self.assertFalse(X86_64_KASAN.measured)
        self.assertTrue(UML.measured and X86_64.measured)
        self.assertEqual(X86_64_KASAN.fragments,
                         ('x86_64.config', 'kasan.config'))
        text = (CONFIGS / 'kasan.config').read_text()
        self.assertIn('CONFIG_KASAN_GENERIC=y', text)

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


class InterleavedConsole(unittest.TestCase):
    """qemu.untangle() on a real x86_64 KASAN boot: the 8250 console thread
    printed LKDTM's KASAN report while /init wrote its exit line."""

    def _lines(self):
        path = Path(__file__).parent / 'golden' / \
            'x86_64_kasan_console_interleaved.log'
        return path.read_text().splitlines(keepends=True)

    def test_raw_console_loses_the_exit_line(self):
        # What made the self-check fail: "oomgpu-init: exi[ 8.301595] ..."
        self.assertIsNone(scenario_exit(self._lines()))

    def test_user_lines_are_whole_again(self):
        lines = qemu.untangle(self._lines())
        self.assertEqual(scenario_exit(lines), 0)
        self.assertIn('ok 1 program_passed_anyway\n', lines)
        self.assertIn('oomgpu-init: exit 0\n', lines)
        # Every kernel record is kept, whole.
        self.assertIn('[    8.301595]  vfs_write+0x1e2/0x11f0\n', lines)
        self.assertEqual(sum('] BUG: KASAN: slab-out-of-bounds' in line
                             for line in lines), 1)
        self.assertEqual(len([x for x in lines if x.startswith('[')]),
                         len([x for x in self._lines() if '[ ' in x and
                              not x.startswith('#')]))

    def test_a_judged_boot_passes_as_expected(self):
        lines = qemu.untangle(self._lines())
        out = judge(Scenario('selfcheck-kasan', '', ('selfcheck',), '128M',
                             60, True, (), 'splat'), 'patched',
                    Boot(0, False, 1.0, lines, scenario_exit(lines)),
                    Path('x.log'), platform='x86_64-kasan')
        self.assertTrue(out.status.ok, out.problems)
        self.assertIn('KASAN', out.note)


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
            self.assertEqual(cat.scenarios[name].platforms,
                             ('x86_64', 'x86_64-kasan'))
            self.assertTrue(cat.scenarios[name].reproduces)

    def test_kasan_runs_the_emugpu_and_oom_scenarios(self):
        cat = load_catalogue(TOP / 'tests' / 'scenarios.toml')
        on = {n for n, s in cat.scenarios.items()
              if 'x86_64-kasan' in s.platforms}
        self.assertIn('selfcheck-kasan', on)
        self.assertTrue({'emugpu-basic', 'emugpu-badinput', 'oom-smoke',
                         'gpu-mrelease-thp-xe', 'oom-gpu-busy-xe'} <= on)
        # Every other scenario there also runs on x86_64 proper.
        for name in on - {'selfcheck-kasan'}:
            self.assertIn('x86_64', cat.scenarios[name].platforms, name)


if __name__ == '__main__':
    unittest.main()
