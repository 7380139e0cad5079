"""make test (the quick tier) against make check: which kernels and boots
each asks for, with the builds replaced by their names."""

import tempfile
import unittest
from pathlib import Path
from unittest import mock

from oomgpu import __main__ as main
from oomgpu import phases
from oomgpu.kbuild import Tree
from oomgpu.scenarios import load_catalogue

CATALOGUE = Path(__file__).resolve().parents[2] / 'tests' / 'scenarios.toml'


def plan(argv: list[str]) -> tuple[set, list[tuple[str, str, str, str]]]:
    """(kernels, boots as (scenario, base, platform, flavour))."""
    args = main._parser().parse_args(argv)
    with mock.patch.object(Tree, 'build',
                           lambda self, f, p: Path(f'{p.name}-{f}')):
        kernels, work = main._kernels_and_work(args, main._trees(args))
    return set(kernels), [(s.name, t.base.name, p.name, f)
                          for s, t, p, f, _ in work]


class TiersTest(unittest.TestCase):
    def test_quick_tier_shows_each_claim_once(self) -> None:
        kernels, boots = plan(['test'])
        # UML baseline and patched, the x86_64 THP and hmm-tests evidence
        # with the series without its huge page handling; no KASAN, no LTS
        self.assertEqual(kernels, {
            ('7.3', 'uml', 'baseline'), ('7.3', 'uml', 'patched'),
            ('7.3', 'x86_64', 'patched'), ('7.3', 'x86_64', 'no-thp-fix')})
        # every reproducing scenario on both flavours, the rest on patched
        cat = load_catalogue(CATALOGUE)
        for name, _, platform, flavour in boots:
            scenario = cat.scenarios[name]
            self.assertIn(platform, scenario.test, name)
            if flavour == 'baseline':
                self.assertTrue(scenario.reproduces, name)
                self.assertEqual(platform, 'uml', name)
        pairs = {(n, f) for n, _, _, f in boots}
        self.assertIn(('oom-gpu-busy-xe', 'baseline'), pairs)
        self.assertIn(('gpu-mrelease-thp-xe', 'no-thp-fix'), pairs)
        self.assertIn(('selfcheck-splat', 'patched'), pairs)
        self.assertNotIn(('selfcheck-splat', 'baseline'), pairs)
        self.assertLess(len(boots), 20)

    def test_inner_loop_boots_what_is_named_on_its_test_platform(self) -> None:
        kernels, boots = plan(['test', 'oom-gpu-busy-xe'])
        self.assertEqual(boots, [
            ('oom-gpu-busy-xe', '7.3', 'uml', 'baseline'),
            ('oom-gpu-busy-xe', '7.3', 'uml', 'patched')])
        self.assertEqual(kernels, {('7.3', 'uml', 'baseline'),
                                   ('7.3', 'uml', 'patched')})

    def test_check_is_the_whole_matrix(self) -> None:
        kernels, boots = plan(['--base', '7.3', '--base', '6.12', 'check'])
        self.assertIn(('7.3', 'x86_64-kasan', 'patched'), kernels)
        self.assertIn(('6.12', 'uml', 'baseline'), kernels)
        # make test's boots are a subset of make check's
        _, quick = plan(['test'])
        self.assertLess(set(quick), set(boots))
        cat = load_catalogue(CATALOGUE)
        every_policy = {n for n, *_ in boots if n.startswith('oom-gpu-idle')}
        self.assertEqual(every_policy, {n for n in cat.scenarios
                                        if n.startswith('oom-gpu-idle')})

    def test_bad_combinations_say_so(self) -> None:
        with self.assertRaisesRegex(ValueError, 'has no x86_64 kernel'):
            plan(['--base', '6.12', 'test', '--platform', 'x86_64'])
        with self.assertRaisesRegex(ValueError, 'boots nowhere with P=uml'):
            plan(['test', '--platform', 'uml', 'gpu-mrelease-thp-xe'])
        with mock.patch('sys.stderr'), mock.patch('sys.stdout'):
            self.assertEqual(main.main(['--base', '7.3', '--base', '6.12',
                                        'test']), 2)

    def test_every_quick_scenario_is_in_check(self) -> None:
        cat = load_catalogue(CATALOGUE)
        for scenario in cat.scenarios.values():
            if scenario.test:
                self.assertTrue(set(scenario.groups) &
                                set(main.COMMAND_GROUPS['check']),
                                scenario.name)


class CatalogueTestKeyTest(unittest.TestCase):
    def load(self, text: str) -> dict:
        with tempfile.NamedTemporaryFile('w', suffix='.toml') as f:
            f.write(text)
            f.flush()
            return load_catalogue(Path(f.name)).scenarios

    ENTRY = ('[a]\nsummary = "a"\ngroups = ["oom"]\nmem = "1M"\n'
             'timeout = 1\ntime_travel = false\n')

    def test_policies_default_to_the_reproducing_ones(self) -> None:
        got = self.load(self.ENTRY + 'policies = ["precise", "xe"]\n'
                        'reproduces = ["xe"]\ntest = ["uml"]\n')
        self.assertEqual(got['a-xe'].test, ('uml',))
        self.assertEqual(got['a-precise'].test, ())

    def test_a_platform_it_does_not_run_on_is_refused(self) -> None:
        with self.assertRaises(ValueError):
            self.load(self.ENTRY + 'test = ["x86_64"]\n')


class PhasesTest(unittest.TestCase):
    def test_inner_phases_count_once_and_rows_add_up(self) -> None:
        phases.reset()
        clock = iter([0.0, 10.0, 14.0, 20.0])
        with mock.patch('oomgpu.phases.time.monotonic',
                        lambda: next(clock)):
            with phases.phase('outer'):
                with phases.phase('inner'):
                    pass
        self.assertEqual(phases.records(), [('inner', 4.0), ('outer', 16.0)])
        table = phases.table(total=30.0)
        self.assertIn('outer', table)
        self.assertRegex(table, r'other\s+10\n')
        self.assertRegex(table, r'total\s+30\n')
        phases.reset()


if __name__ == '__main__':
    unittest.main()
