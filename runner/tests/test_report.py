"""The OOM table, and docs/results.md's selftest section, on real
consoles: the series' hmm-tests cases (tests/golden/x86_64_hmm_oom_*.log),
oom-gpu-busy-nocancel on UML and gpu-mrelease-thp-xe on x86_64."""

import re
import unittest
from dataclasses import replace
from pathlib import Path

from oomgpu.judge import judge
from oomgpu.ktap import Status
from oomgpu.report import _pair_cases, markdown, selftest_rows, table
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


def _judged(log: str, scenario: str, flavour: str, platform: str,
            base: str = '7.3'):
    lines = (GOLDEN / log).read_text(errors='replace').splitlines(
        keepends=True)
    boot = Boot(0, False, 1.0, lines, scenario_exit(lines))
    [picked] = CATALOGUE.select([scenario], [])
    return judge(picked, flavour, boot, Path('x.log'), base, platform)


def _busy(flavour: str, base: str = '7.3'):
    return _judged(f'uml_oom_gpu_busy_nocancel_{flavour}.log',
                   'oom-gpu-busy-nocancel', flavour, 'uml', base)


def _thp(log: str, flavour: str, platform: str = 'x86_64'):
    return _judged(f'x86_64_thp_xe_{log}.log', 'gpu-mrelease-thp-xe',
                   flavour, platform)


def _rows(text: str) -> list[dict[str, str]]:
    """The table's rows as {column: cell}; a column of a group (two
    header lines) is named `group flavour`."""
    top, names, dashes, *rows = text.splitlines()
    spans = [m.span() for m in re.finditer(r'-+', dashes)]
    groups = [(m.start(), m.group()) for m in
              re.finditer(r'\S+(?: \S+)*', top)]
    keys = []
    for start, end in spans:
        name = names[start:end].strip()
        if name in ('baseline', 'patched'):
            group = [g for at, g in groups if at <= start][-1]
            name = f'{group} {name}'
        keys.append(name)
    return [{k: row[a:b].strip() for k, (a, b) in zip(keys, spans)}
            for row in rows]


class TableTest(unittest.TestCase):
    def test_one_row_holds_both_flavours(self) -> None:
        text = table([_busy('baseline'), _busy('patched')])
        [row] = _rows(text)
        self.assertEqual(row, {
            'scenario': 'oom-gpu-busy-nocancel', 'platform': 'uml',
            'reaped 1st pass baseline': 'gave up',
            'reaped 1st pass patched': '100.0%',
            'kill->reap baseline': '3.12 s', 'kill->reap patched': '2.03 s',
            'collateral baseline': '2', 'collateral patched': '0',
            'cancels': '0',
            'verdict baseline': 'PASS', 'verdict patched': 'PASS',
            'reproduces': 'yes'})
        self.assertLess(max(map(len, text.splitlines())), 130)

    def test_a_row_with_only_patched_shows_dashes_for_baseline(self) -> None:
        """x86_64-kasan boots the patched flavour only."""
        [row] = _rows(table([_thp('patched', 'patched', 'x86_64-kasan')]))
        self.assertEqual(row['platform'], 'x86_64-kasan')
        self.assertEqual(row['reaped 1st pass patched'], '100.0%')
        for column in ('reaped 1st pass', 'kill->reap', 'collateral',
                       'verdict'):
            self.assertEqual(row[f'{column} baseline'], '-', column)
        self.assertEqual(row['verdict patched'], 'PASS')
        self.assertEqual(row['reproduces'], 'not run')

    def test_an_experiment_flavour_has_a_row_of_its_own(self) -> None:
        """After its scenario's row, wherever it came in the run."""
        text = table([_thp('no_thp_fix', 'no-thp-fix'),
                      _thp('patched', 'patched')])
        patched, experiment = _rows(text)
        self.assertEqual(patched['scenario'], 'gpu-mrelease-thp-xe')
        self.assertEqual(patched['reaped 1st pass patched'], '100.0%')
        self.assertEqual(experiment['scenario'],
                         'gpu-mrelease-thp-xe (no-thp-fix)')
        self.assertEqual(experiment['reaped 1st pass baseline'], '-')
        self.assertEqual(experiment['verdict patched'], 'PASS')
        self.assertEqual(experiment['reproduces'], '-')

    def test_the_base_shows_only_when_there_are_several(self) -> None:
        self.assertNotIn('base', _rows(table([_busy('patched')]))[0])
        rows = _rows(table([_busy('patched', '7.3'),
                            _busy('patched', '6.12')]))
        self.assertEqual([r['base'] for r in rows], ['7.3', '6.12'])

    def test_results_md_embeds_the_table(self) -> None:
        outs = [_busy('baseline'), _busy('patched')]
        self.assertIn(table(outs).rstrip(),
                      markdown(outs, 'make run', None, 'now'))


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
