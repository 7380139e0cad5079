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
        from oomgpu.judge import Reaping
        from oomgpu.report import reaping_cells
        log = parse_oom((GOLDEN / 'oom.log').read_text().splitlines())
        unable = log.victim(91)
        assert unable is not None
        self.assertEqual(reaping_cells(Reaping.of_kill(unable, None))[0],
                         '0 kB')
        self.assertTrue(reaping_cells(Reaping.of_kill(unable, None))[2]
                        .startswith('gave up'))
        reaped = log.victim(92)
        assert reaped is not None
        self.assertEqual(reaping_cells(Reaping.of_kill(reaped, None))[0],
                         '8192 kB')
        smoke = parse_oom((GOLDEN / 'uml_oom_smoke.log').read_text()
                          .splitlines())
        self.assertEqual(reaping_cells(Reaping.of_kill(smoke.kills[0],
                                                       None))[0],
                         'exited first')
        self.assertEqual(reaping_cells(None), ('-', '-', '-'))


class PartialReapTest(unittest.TestCase):
    def test_partial_then_complete(self) -> None:
        log = parse_oom((GOLDEN / 'oom.log').read_text().splitlines())
        victim = log.victim(93)
        assert victim is not None
        self.assertEqual(victim.partial_reaps, [(22.01, 64, 64)])
        self.assertEqual(victim.reaped_kb, 1048576)
        self.assertAlmostEqual(victim.time_to_reap or 0, 2.32)


class GaveUpTest(unittest.TestCase):
    def test_gave_up_on_busy_memory(self) -> None:
        lines = [
            '[    2.000000] Out of memory: Killed process 40 (oom_gpu) '
            'total-vm:140440kB, anon-rss:131148kB, file-rss:692kB',
            '[    4.100000] oom_reaper: could not reap 64kB of process 40 '
            '(oom_gpu), busy in mmu notifier emugpu_userptr_invalidate, now '
            'anon-rss:80kB, file-rss:0kB, shmem-rss:0kB',
            '[    5.200000] oom_reaper: unable to reap pid:40 (oom_gpu), 64kB '
            'busy in mmu notifier emugpu_userptr_invalidate',
            '[    6.000000] oomgpu: victim 40 gone',
        ]
        kill = parse_oom(lines).victim(40)
        assert kill is not None
        self.assertTrue(kill.reap_failed)
        self.assertEqual(kill.first_pass(), (4.1, 80))
        self.assertEqual([round(t, 2) for t, _ in kill.rss_timeline()],
                         [0.0, 2.1, 3.2, 4.0])
        self.assertEqual([kb for _, kb in kill.rss_timeline()],
                         [131148, 80, 80, 0])
