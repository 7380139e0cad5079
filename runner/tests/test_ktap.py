"""KTAP parsing against golden console logs."""

import unittest
from pathlib import Path

from oomgpu.ktap import Status, format_result, parse_log, split_documents

GOLDEN = Path(__file__).parent / 'golden'


def _lines(name: str) -> list[str]:
    return (GOLDEN / name).read_text().splitlines(keepends=True)


class KtapTest(unittest.TestCase):
    def test_nested_kunit_document(self) -> None:
        docs = parse_log(_lines('kunit_nested.log'))
        self.assertEqual(len(docs), 1)
        doc = docs[0]
        self.assertEqual(doc.plan, 2)
        self.assertEqual([t.name for t in doc.tests], ['oom_reap', 'emugpu_pt'])
        reap = doc.tests[0]
        self.assertEqual(reap.status, Status.FAIL)
        self.assertEqual([s.status for s in reap.subtests],
                         [Status.PASS, Status.FAIL, Status.SKIP])
        self.assertIn('middle_busy: EXPECTATION FAILED at mm/oom_kunit.c:120',
                      reap.subtests[1].diagnostics)
        self.assertEqual(doc.tests[1].status, Status.PASS)
        self.assertFalse(doc.ok)

    def test_passing_parent_with_failing_child_fails(self) -> None:
        log = ['KTAP version 1\n', '1..1\n', '    KTAP version 1\n',
               '    1..1\n', '    not ok 1 inner\n', 'ok 1 outer\n']
        self.assertEqual(parse_log(log)[0].tests[0].status, Status.FAIL)

    def test_truncated_document_reports_missing_tests(self) -> None:
        doc = parse_log(_lines('truncated.log'))[0]
        self.assertEqual([t.status for t in doc.tests],
                         [Status.PASS, Status.ERROR, Status.ERROR])
        self.assertFalse(doc.ok)

    def test_several_documents_are_all_found(self) -> None:
        log = _lines('kunit_nested.log') + [
            'KTAP version 1\n', '1..1\n', 'ok 1 program # SKIP no AVX\n']
        docs = parse_log(log)
        self.assertEqual(len(docs), 2)
        self.assertEqual(docs[1].tests[0].status, Status.SKIP)
        self.assertEqual(docs[1].tests[0].directive, 'SKIP no AVX')

    def test_directives(self) -> None:
        log = ['TAP version 13\n', '1..3\n', 'not ok 1 a # TIMEOUT\n',
               'not ok 2 b # XFAIL known\n', 'ok 3 - c\n']
        tests = parse_log(log)[0].tests
        self.assertEqual([t.status for t in tests],
                         [Status.TIMEOUT, Status.XFAIL, Status.PASS])
        self.assertEqual(tests[2].name, 'c')

    def test_lines_before_first_version_are_ignored(self) -> None:
        self.assertEqual(split_documents(['ok 1 stray\n', '1..1\n']), [])

    def test_format_round_trip(self) -> None:
        doc = parse_log(_lines('kunit_nested.log'))[0]
        text = ['KTAP version 1\n', '1..2\n']
        for t in doc.tests:
            text += [line + '\n' for line in format_result(t)]
        again = parse_log(text)[0]
        self.assertEqual([t.status for t in again.tests],
                         [t.status for t in doc.tests])
        self.assertEqual(len(again.tests[0].subtests), 3)


if __name__ == '__main__':
    unittest.main()


class XfailRenderingTest(unittest.TestCase):
    def test_expected_failure_renders_as_not_ok_xfail(self) -> None:
        from oomgpu.ktap import TestResult
        inner = TestResult(1, 'deliberately_failing', Status.XFAIL,
                           'XFAIL expected')
        outer = TestResult(1, 'selfcheck', Status.PASS, '', [], [inner])
        lines = ['KTAP version 1\n', '1..1\n'] + [
            line + '\n' for line in format_result(outer)]
        self.assertIn('    not ok 1 deliberately_failing # XFAIL expected\n',
                      lines)
        again = parse_log(lines)[0].tests[0]
        self.assertEqual(again.status, Status.PASS)
        self.assertEqual(again.subtests[0].status, Status.XFAIL)


class LockDumpTest(unittest.TestCase):
    def test_lockdep_lines_inside_a_suite_do_not_end_it(self) -> None:
        """The 7.3 reaper's give-up message is followed by
        debug_show_all_locks(), whose ' #0: ...' lines sit between two
        results of a nested suite (kunit-oom-reap on UML, 7.3)."""
        docs = parse_log(_lines('kunit_lockdep_dump.log'))
        suite = docs[0].tests[0]
        self.assertEqual(suite.name, 'oom_reap')
        self.assertEqual(len(suite.subtests), 9)
        self.assertTrue(all(s.status.ok for s in suite.subtests))
        self.assertEqual(suite.status, Status.PASS)
