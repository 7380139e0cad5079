"""Verdicts on real UML console logs (tests/golden/uml_*.log)."""

import unittest
from pathlib import Path

from oomgpu.judge import judge
from oomgpu.ktap import Status
from oomgpu.report import failures, table
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

    def test_failures_name_each_failed_outcome_and_its_log(self) -> None:
        good = judge(_scenario('oom-smoke', oom='ktap'), 'patched',
                     _boot('uml_oom_smoke.log'), Path('good.log'))
        bad = judge(_scenario('boot'), 'patched',
                    _boot('uml_oom_smoke.log', None), Path('bad.log'))
        lines = failures([good, bad])
        self.assertEqual(len(lines), 1)
        self.assertTrue(lines[0].startswith(bad.label), lines[0])
        self.assertIn('bad.log', lines[0])


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


class EmptyPlanTest(unittest.TestCase):
    """hmm-tests -f hmm_oom built from a tree without the series' cases
    (a clean clone's first run did that) printed 1..0 and exited 0."""

    def _scenario(self) -> Scenario:
        return Scenario('kselftest-mm-hmm-oom', '', ('kselftest',), '1G',
                        300, False, (), 'pass', '', True)

    def test_no_tests_run_fails_on_both_flavours(self) -> None:
        boot = _boot('x86_64_hmm_tests_no_cases.log')
        patched = judge(self._scenario(), 'patched', boot, Path('x.log'))
        self.assertEqual(patched.status, Status.FAIL)
        self.assertIn('ran no tests', patched.problems[0])
        baseline = judge(self._scenario(), 'baseline', boot, Path('x.log'))
        self.assertEqual(baseline.status, Status.FAIL)
        self.assertIn('does not reproduce on baseline: ran no tests',
                      baseline.problems[0])

    def test_a_program_that_skips_itself_passes(self) -> None:
        lines = ['TAP version 13\n', '1..0 # SKIP no emugpu\n',
                 'oomgpu-init: exit 0\n']
        boot = Boot(0, False, 1.0, lines, scenario_exit(lines))
        out = judge(_scenario('emugpu-vram'), 'patched', boot, Path('x.log'))
        self.assertEqual(out.status, Status.PASS, out.problems)


def _oom_gpu(reproduces: bool = True) -> Scenario:
    return Scenario('oom-gpu-busy-nocancel', '', ('oom',), '256M', 120,
                    False, (), 'pass', 'ktap', reproduces)


class OomGpuTest(unittest.TestCase):
    """The headline scenario on both kernels, from real logs."""

    def test_baseline_reproduces(self) -> None:
        out = judge(_oom_gpu(), 'baseline',
                    _boot('uml_oom_gpu_busy_nocancel_baseline.log', 1),
                    Path('x.log'))
        self.assertEqual(out.status, Status.PASS, out.problems)
        self.assertTrue(out.failures_expected)
        self.assertIn('no_collateral', out.note)
        self.assertEqual(len(out.collateral), 2)
        r = out.reaping()
        assert r is not None
        self.assertEqual(r.reaped_kb, 0)
        self.assertIsNotNone(r.gave_up)

    def test_baseline_killed_at_the_timeout_reproduces_nothing(self) -> None:
        """The same console, had the runner killed the guest at its
        timeout: unfinished tests read as failed, which is no proof (make
        bench's 100 episodes on 7.3 took longer than their 1200 s)."""
        boot = _boot('uml_oom_gpu_busy_nocancel_baseline.log', None)
        self.assertTrue(boot.timed_out)
        out = judge(_oom_gpu(), 'baseline', boot, Path('x.log'))
        self.assertEqual(out.status, Status.TIMEOUT)
        self.assertFalse(out.failures_expected)
        self.assertTrue(out.problems[0].startswith(
            'does not reproduce on baseline: timed out'), out.problems)

    def test_patched_reaps_around_the_busy_range(self) -> None:
        out = judge(_oom_gpu(), 'patched',
                    _boot('uml_oom_gpu_busy_nocancel_patched.log'),
                    Path('x.log'))
        self.assertEqual(out.status, Status.PASS, out.problems)
        self.assertEqual(out.metrics['busy_kb'], 80)
        r = out.reaping()
        assert r is not None and r.share is not None
        self.assertGreaterEqual(r.share, 0.99)
        self.assertEqual(out.collateral, [])
        assert out.victim is not None
        timeline = out.victim.rss_timeline()
        self.assertEqual(timeline[0], (0.0, out.victim.anon_rss_kb))
        self.assertEqual(timeline[-1][1], 0)

    def test_a_poor_first_pass_fails_on_patched(self) -> None:
        boot = _boot('uml_oom_gpu_busy_nocancel_patched.log')
        boot.console = [line.replace('now anon-rss:80kB',
                                     'now anon-rss:65600kB')
                        for line in boot.console]
        out = judge(_oom_gpu(), 'patched', boot, Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)
        self.assertTrue(any('first pass reaped' in p for p in out.problems),
                        out.problems)

    def test_patched_log_does_not_reproduce_on_baseline(self) -> None:
        out = judge(_oom_gpu(), 'baseline',
                    _boot('uml_oom_gpu_busy_nocancel_patched.log'),
                    Path('x.log'))
        self.assertEqual(out.status, Status.FAIL)
        self.assertIn('does not reproduce', out.problems[0])

    def test_table_reports_both_flavours(self) -> None:
        outs = [judge(_oom_gpu(), 'baseline',
                      _boot('uml_oom_gpu_busy_nocancel_baseline.log', 1),
                      Path('x.log')),
                judge(_oom_gpu(), 'patched',
                      _boot('uml_oom_gpu_busy_nocancel_patched.log'),
                      Path('x.log'))]
        rows = table(outs).splitlines()
        self.assertIn('reproduces', rows[1])
        self.assertEqual(len(rows), 4)   # both flavours in one row
        self.assertEqual(rows[3].split()[2:], [
            'gave', 'up', '100.0%', '3.12', 's', '2.03', 's', '2', '0', '0',
            'PASS', 'PASS', 'yes'])


class ExperimentTest(unittest.TestCase):
    """gpu-mrelease-thp-xe on x86_64: the patched kernel, and the series
    without its huge page handling (experiments/no-thp-fix), where the
    reaper splits the huge PMD and process_mrelease() waited 10186 ms in
    the split's blocking invalidation."""

    def setUp(self) -> None:
        from oomgpu.scenarios import load_catalogue
        cat = load_catalogue(Path(__file__).parents[2] / 'tests' /
                             'scenarios.toml')
        self.thp = cat.scenarios['gpu-mrelease-thp-xe']

    def _judge(self, log: str, flavour: str):
        return judge(self.thp, flavour, _boot(log), Path('x.log'), '7.3',
                     'x86_64')

    def test_the_cases_fail_on_the_experiment_as_they_must(self) -> None:
        out = self._judge('x86_64_thp_xe_no_thp_fix.log', 'no-thp-fix')
        self.assertEqual(out.status, Status.PASS, out.problems)
        self.assertTrue(out.failures_expected)
        self.assertIn('fails as it must on no-thp-fix', out.note)

    def test_the_patched_kernel_passes_them(self) -> None:
        out = self._judge('x86_64_thp_xe_patched.log', 'patched')
        self.assertEqual(out.status, Status.PASS, out.problems)
        self.assertFalse(out.failures_expected)

    def test_an_experiment_that_passes_is_a_failure(self) -> None:
        """The patched console judged as the experiment: what a kernel
        whose experiment patch changed nothing would print."""
        out = self._judge('x86_64_thp_xe_patched.log', 'no-thp-fix')
        self.assertEqual(out.status, Status.FAIL)
        self.assertEqual(out.problems, [
            'no_blockable_invalidation did not fail; it must on no-thp-fix',
            'busy_ranges_still_mapped did not fail; it must on no-thp-fix'])


if __name__ == '__main__':
    unittest.main()
