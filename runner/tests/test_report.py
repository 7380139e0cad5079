"""docs/results.md's selftest section, on real x86_64 consoles of the
series' hmm-tests cases (tests/golden/x86_64_hmm_oom_*.log)."""

import unittest
from dataclasses import replace
from pathlib import Path

from oomgpu.judge import judge
from oomgpu.ktap import Status
from oomgpu.report import _pair_cases, markdown, selftest_rows
from oomgpu.scenarios import load_catalogue
from oomgpu.uml import Boot, scenario_exit

GOLDEN = Path(__file__).parent / 'golden'
CATALOGUE = load_catalogue(Path(__file__).parents[2] / 'tests' /
                           'scenarios.toml')


def _outcome(flavour: str, scenario: str = 'kselftest-mm-hmm-oom'):
    lines = (GOLDEN / f'x86_64_hmm_oom_{flavour}.log').read_text(
        errors='replace').splitlines(keepends=True)
    boot = Boot(0, False, 1.0, lines, scenario_exit(lines))
    picked = CATALOGUE.select([scenario], [])
    return judge(picked[0], flavour, boot, Path('x.log'), '7.3', 'x86_64')


class SelftestSectionTest(unittest.TestCase):
    def test_the_series_cases_fail_on_baseline_only(self) -> None:
        outs = [_outcome('baseline'), _outcome('patched')]
        self.assertEqual([o.status for o in outs], [Status.PASS] * 2)
        [row] = selftest_rows(outs)
        self.assertEqual(row[:5], ('kselftest-mm-hmm-oom', '7.3', 'x86_64',
                                   '0 pass, 2 fail, 0 skip',
                                   '2 pass, 0 fail, 0 skip'))
        self.assertIn('hmm_oom.mrelease_reaps_around_busy_range '
                      '(fail -> pass)', row[5])
        self.assertTrue(row[5].endswith('(expected: the bug)'))
        text = markdown(outs, 'make run', None, 'now')
        self.assertIn('## Kernel selftests per flavour', text)

    def test_a_difference_elsewhere_is_a_regression(self) -> None:
        outs = [_outcome('baseline'), _outcome('patched')]
        for out in outs:
            out.scenario = replace(out.scenario, reproduces=False)
        [row] = selftest_rows(outs)
        self.assertTrue(row[5].endswith('(a regression)'), row[5])

    def test_same_results_differ_in_nothing(self) -> None:
        patched = _outcome('patched')
        baseline = _outcome('patched')
        baseline.flavour = 'baseline'
        [row] = selftest_rows([baseline, patched])
        self.assertEqual(row[5], 'none')

    def test_cases_named_after_a_number_are_the_same_case(self) -> None:
        """mrelease_test names its case after the size it allocated."""
        mb = 'Success reaping a child with {}MB of memory allocations'
        self.assertEqual(_pair_cases([mb.format(2), 'a'],
                                     [mb.format(1), 'b']),
                         [(mb.format(2), mb.format(1)), ('a', None),
                          (None, 'b')])

    def test_only_kselftest_scenarios_get_a_row(self) -> None:
        out = _outcome('patched')
        out.scenario = replace(out.scenario, groups=('oom',))
        self.assertEqual(selftest_rows([out]), [])
        self.assertNotIn('Kernel selftests', markdown([out], 'make run',
                                                      None, 'now'))


if __name__ == '__main__':
    unittest.main()
