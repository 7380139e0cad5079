"""The checked-in catalogue loads, and selection by name, glob and group."""

import unittest
from pathlib import Path

from oomgpu.scenarios import POLICIES, load_catalogue

CATALOGUE = Path(__file__).resolve().parents[2] / 'tests' / 'scenarios.toml'
SCRIPTS = CATALOGUE.parent / 'scenarios'
DRIVER = CATALOGUE.parents[1] / 'driver' / 'emugpu_drv.c'


class CatalogueTest(unittest.TestCase):
    def setUp(self) -> None:
        self.cat = load_catalogue(CATALOGUE)

    def test_every_scenario_has_an_executable_script(self) -> None:
        for name, scenario in self.cat.scenarios.items():
            script = SCRIPTS / (scenario.script or name)
            self.assertTrue(script.exists(), name)
            self.assertTrue(script.stat().st_mode & 0o111, name)

    def test_every_script_is_catalogued(self) -> None:
        used = {s.script or s.name for s in self.cat.scenarios.values()}
        self.assertEqual(sorted(p.name for p in SCRIPTS.iterdir()),
                         sorted(used))

    def test_select(self) -> None:
        self.assertEqual([s.name for s in self.cat.select(['oom-sm*'], [])],
                         ['oom-smoke'])
        kunit = self.cat.select(['kunit*'], [])
        self.assertEqual([s.name for s in kunit],
                         ['kunit', 'kunit-oom-reap', 'kunit-emugpu'])
        self.assertIn('kunit.enable=1', kunit[1].kernel_args())
        self.assertIn('oomgpu.scenario=kunit', kunit[1].kernel_args())
        with self.assertRaises(ValueError):
            self.cat.select(['no-such-*'], [])

    def test_policy_on_the_kernel_command_line(self) -> None:
        xe = self.cat.scenarios['oom-gpu-busy-xe']
        self.assertIn('emugpu.notifier_policy=xe', xe.kernel_args())
        self.assertIn('oomgpu.scenario=oom-gpu-busy', xe.kernel_args())
        boot = self.cat.scenarios['boot']
        self.assertIn('emugpu.notifier_policy=precise', boot.kernel_args())

    def test_policies_expand(self) -> None:
        names = [n for n in self.cat.scenarios if n.startswith('oom-gpu-busy')]
        self.assertEqual(names, [f'oom-gpu-busy-{p}' for p in POLICIES])
        busy = {n[len('oom-gpu-busy-'):]: s for n, s in
                self.cat.scenarios.items() if n in names}
        self.assertEqual([p for p, s in busy.items() if s.reproduces],
                         ['nocancel', 'xe'])
        self.assertEqual({s.script for s in busy.values()}, {'oom-gpu-busy'})
        self.assertEqual({p for p, s in busy.items()},
                         {s.policy for s in busy.values()})

    def _assert_refused(self, *bad_lines: str) -> None:
        """A catalogue of one valid scenario plus each of @bad_lines does
        not load."""
        import tempfile
        entry = ('[x]\nsummary = "s"\ngroups = ["oom"]\nmem = "1M"\n'
                 'timeout = 1\ntime_travel = false\n')
        for bad in bad_lines:
            with tempfile.NamedTemporaryFile('w', suffix='.toml') as f:
                f.write(entry + bad)
                f.flush()
                with self.assertRaises(ValueError, msg=bad):
                    load_catalogue(Path(f.name))

    def test_bad_policies_are_refused(self) -> None:
        self._assert_refused('policies = ["precise", "nope"]\n',
                             'policies = ["precise"]\nreproduces = ["xe"]\n',
                             'policies = []\n',
                             'policies = ["xe"]\nreproduces = true\n',
                             'policy = "nope"\n')

    def test_must_fail_on_names_cases_of_an_experiment(self) -> None:
        thp = self.cat.scenarios['gpu-mrelease-thp-xe']
        self.assertIn('no_blockable_invalidation', thp.must_fail('no-thp-fix'))
        self.assertEqual(thp.must_fail('patched'), ())
        self._assert_refused('[x.must_fail_on]\nno-thp-fix = []\n',
                             '[x.must_fail_on]\nno-thp-fix = "case"\n',
                             'must_fail_on = ["no-thp-fix"]\n')

    def test_policies_are_the_drivers(self) -> None:
        source = DRIVER.read_text()
        for policy in POLICIES:
            self.assertIn(f'= "{policy}"', source, policy)


if __name__ == '__main__':
    unittest.main()
