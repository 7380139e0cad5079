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
        [other] = self.log.others(91)
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
