"""What a kunit.py kernel's KTAP must show for each variant."""

import unittest
from pathlib import Path

from oomgpu.ktap import parse_log
from oomgpu.kunit_uml import MAY_SKIP, SUITES
from oomgpu.kunit_x86 import Variant, judge, verdict


def _log(reap: dict[str, str], emugpu: bool = True) -> list[str]:
    """A console with the oom_reap suite's cases as @reap says (ok, not
    ok, skip) and emugpu's suite passing if @emugpu."""
    suites = 2 if emugpu else 1
    lines = ['[    0.5] KTAP version 1', f'[    0.5] 1..{suites}',
             '    KTAP version 1', '    # Subtest: oom_reap',
             f'    1..{len(reap)}']
    for i, (case, how) in enumerate(reap.items(), start=1):
        if how == 'skip':
            lines.append(f'    ok {i} {case} # SKIP no THP')
        else:
            lines.append(f'    {how} {i} {case}')
    failed = any(how == 'not ok' for how in reap.values())
    lines.append(f'{"not ok" if failed else "ok"} 1 oom_reap')
    if emugpu:
        lines += ['    KTAP version 1', '    # Subtest: emugpu', '    1..1',
                  '    ok 1 emugpu_test_vm_find', 'ok 2 emugpu']
    return [line + '\n' for line in lines]


GOLDEN = Path(__file__).parent / 'golden'
PATCHED = Variant('patched', ())
BASELINE = Variant('baseline', (), ('oom_reap_around_busy',))


class KunitJudgeTest(unittest.TestCase):
    def test_patched_uml_passes_with_the_thp_case_skipped(self) -> None:
        docs = parse_log(_log({'oom_reap_around_busy': 'ok',
                               'oom_reap_thp_no_split': 'skip'}))
        self.assertEqual(judge(PATCHED, docs, SUITES, MAY_SKIP), [])

    def test_thp_case_skipped_on_x86_64_is_a_problem(self) -> None:
        docs = parse_log(_log({'oom_reap_thp_no_split': 'skip'}, False))
        self.assertEqual(judge(PATCHED, docs),
                         ['oom_reap_thp_no_split skipped: SKIP no THP'])

    def test_baseline_must_fail_the_partial_reap_case(self) -> None:
        bug = parse_log(_log({'oom_reap_around_busy': 'not ok',
                              'oom_reap_other_vmas': 'ok'}))
        self.assertEqual(judge(BASELINE, bug, SUITES, MAY_SKIP), [])
        fixed = parse_log(_log({'oom_reap_around_busy': 'ok'}))
        self.assertEqual(judge(BASELINE, fixed, SUITES, MAY_SKIP),
                         ['oom_reap_around_busy passed; it must fail on '
                          'baseline'])

    def test_kunit_py_uml_console_of_patched(self) -> None:
        """kunit.py's UML kernel of the patched flavour, both suites."""
        lines = (GOLDEN / 'kunit_py_uml_patched.log').read_text().splitlines(
            keepends=True)
        docs = parse_log(lines)
        self.assertEqual([t.name for t in docs[0].tests], list(SUITES))
        self.assertEqual(judge(PATCHED, docs, SUITES, MAY_SKIP), [])
        self.assertEqual(judge(BASELINE, docs, SUITES, MAY_SKIP),
                         ['oom_reap_around_busy passed; it must fail on '
                          'baseline'])

    def test_baseline_tolerates_more_failures_of_the_reap_suite_only(
            self) -> None:
        reap = {'oom_reap_around_busy': 'not ok',
                'oom_reap_task_retries': 'not ok'}
        self.assertEqual(judge(BASELINE, parse_log(_log(reap)), SUITES,
                               MAY_SKIP), [])
        lines = [line.replace('ok 1 emugpu_test_vm_find',
                              'not ok 1 emugpu_test_vm_find')
                 for line in _log(reap)]
        self.assertEqual(judge(BASELINE, parse_log(lines), SUITES, MAY_SKIP),
                         ['emugpu_test_vm_find failed'])

    def test_unexpected_failure_and_missing_suite(self) -> None:
        docs = parse_log(_log({'oom_reap_other_vmas': 'not ok'}, False))
        self.assertEqual(judge(PATCHED, docs, SUITES, MAY_SKIP),
                         ['the emugpu suite did not run',
                          'oom_reap_other_vmas failed'])

    def test_a_panic_after_the_suite_fails_the_variant(self) -> None:
        """x86_64, the suite passed, then "reboot: Power down" did not stop
        QEMU and the kernel panicked mounting a root (kunit_shutdown=
        poweroff, as the runner once passed it)."""
        lines = (GOLDEN / 'kunit_x86_64_panic_after_poweroff.log'
                 ).read_text(errors='replace').splitlines(keepends=True)
        docs, problems = verdict(PATCHED, lines, judge)
        self.assertEqual(judge(PATCHED, docs), [])
        self.assertEqual(len(problems), 1)
        self.assertTrue(problems[0].startswith('kernel splat (panic)'),
                        problems)

    def test_baseline_reaper_giving_up_is_not_a_splat(self) -> None:
        """x86_64 baseline with the flavours' debug set: the old reaper
        gives up and dumps the task (sched_show_task, held locks); the
        suite fails as it must, and nothing else is wrong."""
        lines = (GOLDEN / 'kunit_x86_64_baseline.log').read_text(
            errors='replace').splitlines(keepends=True)
        self.assertTrue(any('oom_reaper: unable to reap' in line
                            for line in lines))
        variant = Variant('baseline', (), ('oom_reap_around_busy',
                                           'oom_reap_thp_no_split'))
        self.assertEqual(verdict(variant, lines, judge)[1], [])


if __name__ == '__main__':
    unittest.main()
