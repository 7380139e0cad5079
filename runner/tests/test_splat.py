"""Splat detection against a golden console log."""

import unittest
from pathlib import Path

from oomgpu.splat import find_splats

GOLDEN = Path(__file__).parent / 'golden'


class SplatTest(unittest.TestCase):
    def test_kinds_and_userspace_is_ignored(self) -> None:
        lines = (GOLDEN / 'splats.log').read_text().splitlines()
        splats = find_splats(lines)
        self.assertEqual([s.kind for s in splats],
                         ['WARNING', 'lockdep', 'BUG', 'hung task'])
        # "cut here" is folded into the WARNING line that follows it.
        self.assertIn('lkdtm_WARNING', splats[0].line)
        self.assertEqual(splats[0].time, 2.0)

    def test_clean_log(self) -> None:
        self.assertEqual(find_splats(['[    1.0] Run /init as init process\n',
                                      '[    1.1] oom_reaper: reaped process 1'
                                      ' (x), now anon-rss:0kB\n']), [])


if __name__ == '__main__':
    unittest.main()
