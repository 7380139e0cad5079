"""OOM kill and reaper parsing against a golden console log."""

import unittest
from pathlib import Path

from oomgpu.oomlog import parse_oom

GOLDEN = Path(__file__).parent / 'golden'


class OomLogTest(unittest.TestCase):
    def setUp(self) -> None:
        self.log = parse_oom((GOLDEN / 'oom.log').read_text().splitlines())

    def test_victim_unreaped(self) -> None:
        victim = self.log.victim(91)
        assert victim is not None
        self.assertEqual(victim.anon_rss_kb, 262144)
        self.assertTrue(victim.reap_failed)
        self.assertIsNone(victim.reaped_kb)
        self.assertFalse(victim.memcg)

    def test_collateral_kill_in_memcg(self) -> None:
        other = self.log.others(91)[0]
        self.assertEqual(len(self.log.others(91)), 2)
        self.assertEqual((other.pid, other.comm, other.memcg),
                         (92, 'innocent', True))
        self.assertEqual(other.reaped_kb, 8192)
        self.assertAlmostEqual(other.time_to_reap or 0, 0.1)


if __name__ == '__main__':
    unittest.main()


class ReaperOutcomeTest(unittest.TestCase):
    def test_words(self) -> None:
        from oomgpu.report import reaper_outcome
        log = parse_oom((GOLDEN / 'oom.log').read_text().splitlines())
        self.assertEqual(reaper_outcome(log.victim(91)), 'unable to reap')
        self.assertEqual(reaper_outcome(log.victim(92)), 'reaped 8192 kB')
        smoke = parse_oom((GOLDEN / 'uml_oom_smoke.log').read_text()
                          .splitlines())
        self.assertEqual(reaper_outcome(smoke.kills[0]), 'exited first')
        self.assertEqual(reaper_outcome(None), '-')


class PartialReapTest(unittest.TestCase):
    def test_partial_then_complete(self) -> None:
        log = parse_oom((GOLDEN / 'oom.log').read_text().splitlines())
        victim = log.victim(93)
        assert victim is not None
        self.assertEqual(victim.partial_reaps, [(22.01, 64, 64)])
        self.assertEqual(victim.reaped_kb, 1048576)
        self.assertAlmostEqual(victim.time_to_reap or 0, 2.32)
