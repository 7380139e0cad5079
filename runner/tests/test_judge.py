"""Verdicts on real UML console logs (tests/golden/uml_*.log)."""

import unittest
from pathlib import Path

from oomgpu.judge import judge
from oomgpu.ktap import Status
from oomgpu.scenarios import Scenario
from oomgpu.uml import Boot, scenario_exit

GOLDEN = Path(__file__).parent / 'golden'


def _boot(name: str, status: int | None = 0) -> Boot:
    lines = (GOLDEN / name).read_text().splitlines(keepends=True)
    return Boot(status, status is None, 1.0, lines, scenario_exit(lines))


def _scenario(name: str, expect: str = 'pass', oom: str = '') -> Scenario:
    return Scenario(name, '', ('smoke',), '128M', 60, True, (), expect, oom)


class JudgeTest(unittest.TestCase):
    def test_stock_kernel_xstate_panic_fails(self) -> None:
        out = judge(_scenario('boot'), 'stock',
                    _boot('uml_stock_xstate_panic.log', 134), Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)
        self.assertTrue(any('never finished' in p for p in out.problems))
        self.assertTrue(any('panic' in p for p in out.problems))

    def test_oom_smoke_passes_with_victim_facts(self) -> None:
        out = judge(_scenario('oom-smoke', oom='ktap'), 'patched',
                    _boot('uml_oom_smoke.log'), Path('x.log'))
        self.assertEqual(out.status, Status.PASS, out.problems)
        assert out.victim is not None
        self.assertEqual(out.victim.comm, 'oom_smoke')
        self.assertGreater(out.victim.anon_rss_kb, 100_000)
        self.assertEqual(out.collateral, [])

    def test_splat_fails_a_passing_program(self) -> None:
        out = judge(_scenario('selfcheck-splat'), 'patched',
                    _boot('uml_lkdtm_warning.log'), Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)
        self.assertEqual(len(out.problems), 1)
        self.assertIn('kernel splat (WARNING)', out.problems[0])

    def test_expected_splat_is_a_pass(self) -> None:
        out = judge(_scenario('selfcheck-splat', expect='splat'), 'patched',
                    _boot('uml_lkdtm_warning.log'), Path('x.log'))
        self.assertEqual(out.status, Status.PASS, out.problems)
        self.assertIn('failed as expected', out.note)

    def test_expected_program_failure_that_passed_fails(self) -> None:
        out = judge(_scenario('oom-smoke', expect='program', oom='ktap'),
                    'patched', _boot('uml_oom_smoke.log'), Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)

    def test_timeout(self) -> None:
        out = judge(_scenario('boot'), 'patched',
                    _boot('uml_oom_smoke.log', None), Path('x.log'))
        self.assertEqual(out.status, Status.TIMEOUT)


if __name__ == '__main__':
    unittest.main()


class ReproducesTest(unittest.TestCase):
    def _scenario(self) -> Scenario:
        return Scenario('kunit-oom-reap', '', ('kunit',), '256M', 60, True,
                        (), 'pass', '', True, 'kunit')

    def _kunit_boot(self) -> Boot:
        lines = ((GOLDEN / 'kunit_nested.log').read_text()
                 + 'oomgpu-init: exit 0\n').splitlines(keepends=True)
        return Boot(0, False, 1.0, lines, scenario_exit(lines))

    def test_failing_tests_on_baseline_reproduce(self) -> None:
        out = judge(self._scenario(), 'baseline', self._kunit_boot(),
                    Path('x.log'))
        self.assertEqual(out.status, Status.PASS, out.problems)
        self.assertIn('reproduces on baseline: middle_busy', out.note)
        self.assertTrue(out.failures_expected)
        from oomgpu.report import ktap
        from oomgpu.ktap import parse_log
        text = ktap([out])
        self.assertIn('not ok 2 middle_busy # XFAIL reproduces on baseline',
                      text)
        self.assertEqual(parse_log(text.splitlines(keepends=True))[0]
                         .tests[0].status, Status.PASS)
        from oomgpu.report import outcome_json
        counts = outcome_json(out)['tests']
        self.assertEqual((counts['passed'], counts['failed']), (2, 1))

    def test_the_same_failure_on_patched_fails(self) -> None:
        out = judge(self._scenario(), 'patched', self._kunit_boot(),
                    Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)

    def test_passing_on_baseline_does_not_reproduce(self) -> None:
        out = judge(self._scenario(), 'baseline',
                    _boot('uml_oom_smoke.log'), Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)
        self.assertIn('does not reproduce on baseline', out.problems[0])
