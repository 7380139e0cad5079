"""make bench's summary: spreads per (base, flavour, k), ratio to k = 0."""

import unittest

from oomgpu.bench import summarise, table, to_json


def _trial(flavour: str, k: int, us: float, calls: int) -> tuple:
    return ('7.3', flavour, {'k': k, 'pass1_us': us, 'pass1_calls': calls,
                             'pass1_reaped_kb': 1024.0, 'pass2_us': 10.0})


class BenchTest(unittest.TestCase):
    def test_spreads_and_ratio_to_idle(self) -> None:
        rows = summarise([
            _trial('patched', 0, 100.0, 0), _trial('patched', 0, 300.0, 0),
            _trial('patched', 10, 220.0, 10),
            _trial('patched', 10, 180.0, 10),
            _trial('baseline', 10, 5.0, 1),
            ('7.3', 'patched', {'oom_kills': 1.0}),   # not a bench trial
        ])
        self.assertEqual([(r.flavour, r.k) for r in rows],
                         [('patched', 0), ('baseline', 10), ('patched', 10)])
        busy = rows[2]
        self.assertEqual(busy.figures['pass1_us'].low, 180.0)
        self.assertEqual(busy.figures['pass1_us'].median, 200.0)
        self.assertAlmostEqual(busy.vs_idle, 1.0)
        self.assertIsNone(rows[1].vs_idle)      # no baseline k=0 trial
        text = table(rows, 2)
        self.assertIn('| 7.3 | 10 | patched | 0.18/0.2/0.22 | 10 | 1 |',
                      text)
        self.assertIn('| 7.3 | 10 | baseline | 0.005 | 1 | 1 | 0.01 | - |',
                      table([rows[1]], 1))
        self.assertIn('| 7.3 | 0 | patched | 0.1/0.2/0.3 | 0 |',
                      table([rows[0]], 1))
        self.assertEqual(to_json(rows, 2, 'make bench')['rows'][2]
                         ['figures']['pass1_calls']['median'], 10)


if __name__ == '__main__':
    unittest.main()
