"""make bench's summary: spreads per section, base, row and flavour, and
each section's ratio."""

import tempfile
import unittest
from pathlib import Path
from types import SimpleNamespace

from oomgpu.bench import (ANALYSIS_MARK, Trial, kept_analysis, summarise,
                          table, to_json, trials_of, write_plot)


def _reap(flavour: str, k: int, us: float, calls: int) -> Trial:
    return Trial('reap', '7.3', flavour, str(k),
                 {'k': k, 'pass1_us': us, 'pass1_calls': calls,
                  'pass1_reaped_kb': 1024.0, 'pass2_us': 10.0})


def _fast(flavour: str, op: str, ns: float) -> Trial:
    return Trial('fastpath', '7.3', flavour, op, {'ns': ns})


class BenchTest(unittest.TestCase):
    def test_reap_spreads_and_ratio_to_idle(self) -> None:
        rows = summarise([
            _reap('patched', 0, 100.0, 0), _reap('patched', 0, 300.0, 0),
            _reap('patched', 10, 220.0, 10), _reap('patched', 10, 180.0, 10),
            _reap('baseline', 10, 5.0, 1),
            Trial('reap', '7.3', 'patched', '0, 4096 MiB VMA',
                  {'pass1_us': 400.0}),
            Trial('reap', '7.3', 'patched', '10, 4096 MiB VMA',
                  {'pass1_us': 600.0}),
        ])
        self.assertEqual([(r.flavour, r.row) for r in rows],
                         [('patched', '0'), ('baseline', '10'),
                          ('patched', '10'), ('patched', '0, 4096 MiB VMA'),
                          ('patched', '10, 4096 MiB VMA')])
        self.assertAlmostEqual(rows[4].ratio, 1.5)   # against its own k=0
        busy = rows[2]
        self.assertEqual(busy.figures['pass1_us'].low, 180.0)
        self.assertEqual(busy.figures['pass1_us'].median, 200.0)
        self.assertAlmostEqual(busy.ratio, 1.0)
        # by fastest trial: 180 against the idle VMA's fastest, 100
        self.assertAlmostEqual(busy.ratio_fastest, 1.8)
        self.assertIsNone(rows[1].ratio)      # no baseline k=0 trial
        self.assertIsNone(rows[1].ratio_fastest)
        text = table(rows, 2)
        self.assertIn('### Reaper pass cost vs busy ranges', text)
        self.assertIn('| 7.3 | 10 | patched | 0.18/0.2/0.22 | 10 | 1 |',
                      text)
        self.assertIn('| vs k=0 (median / fastest) |', text)
        self.assertIn('| 0.01 | 1.00x / 1.80x |', text)
        self.assertIn('| 7.3 | 10 | baseline | 0.005 | 1 | 1 | 0.01 | - |',
                      table([rows[1]], 1))
        self.assertEqual(to_json(rows, 2, 'make bench')['rows'][2]
                         ['figures']['pass1_calls']['median'], 10)
        self.assertAlmostEqual(to_json(rows, 2, 'make bench')['rows'][2]
                               ['ratio_fastest'], 1.8)

    def test_reap_on_x86_64_gives_tlb_counts_not_times(self) -> None:
        metrics = {'k': 10.0, 'vma_kb': 1048576.0, 'pass1_us': 9e6,
                   'pass1_calls': 10.0, 'pass1_reaped_kb': 1048000.0,
                   'pass1_tlb_flushes': 11.0, 'pass2_tlb_flushes': 0.0}
        uml, x86 = (trials_of(SimpleNamespace(  # type: ignore[arg-type]
            metrics=metrics, base='7.3', flavour='patched', platform=p))
            for p in ('uml', 'x86_64'))
        self.assertEqual([t.section for t in uml], ['reap'])
        self.assertEqual([(t.section, t.row) for t in x86], [('tlb', '10')])
        text = table(summarise(x86), 1)
        self.assertIn('### TLB shootdowns of a reaper pass (x86_64)', text)
        self.assertIn('| 7.3 | 10 | patched | 11 | 10 | 1023 | 0 |', text)
        self.assertNotIn('pass 1 (ms)', text)

    def test_oom_rows_of_each_platform_apart(self) -> None:
        # One policy's kill on UML and on x86_64: two rows, UML's first
        # (they were one row of both platforms' trials on 4 Dec)
        kill = SimpleNamespace(time=10.0, first_pass=lambda: (12.5, 0),
                               unable_at=None, gone_at=13.0)
        trials = [t for p in ('x86_64', 'uml') for t in trials_of(
            SimpleNamespace(  # type: ignore[arg-type]
                metrics={}, base='7.3', flavour='patched', platform=p,
                scenario=SimpleNamespace(policy='xe'), victim=kill,
                collateral=[]))]
        rows = summarise(trials)
        self.assertEqual([r.row for r in rows], ['xe', 'xe, x86_64'])
        self.assertIn('| 7.3 | xe, x86_64 | patched | 2.5 | - | 3 | 0 |',
                      table(rows, 1))
        episodes = trials_of(SimpleNamespace(  # type: ignore[arg-type]
            metrics={'episodes': 100.0}, base='7.3', flavour='patched',
            platform='x86_64', scenario=SimpleNamespace(policy='xe')))
        self.assertEqual([(t.section, t.row) for t in episodes],
                         [('episodes', 'xe, x86_64')])

    def test_fastpath_speed_is_baseline_over_patched(self) -> None:
        rows = summarise([
            _fast('baseline', 'munmap', 1000.0),
            _fast('patched', 'munmap', 1100.0),
            _fast('patched', 'munmap', 900.0),
            _fast('baseline', 'madv_dontneed', 400.0),
            _fast('patched', 'madv_dontneed', 500.0),
        ])
        # operations in the program's order, baseline first
        self.assertEqual([(r.row, r.flavour) for r in rows],
                         [('madv_dontneed', 'baseline'),
                          ('madv_dontneed', 'patched'),
                          ('munmap', 'baseline'), ('munmap', 'patched')])
        self.assertIsNone(rows[0].ratio)
        self.assertAlmostEqual(rows[1].ratio, 0.8)
        self.assertAlmostEqual(rows[3].ratio, 1.0)
        # baseline's fastest over patched's fastest: 1000 / 900
        self.assertAlmostEqual(rows[3].ratio_fastest, 1000 / 900)
        self.assertIn('| 7.3 | munmap | patched | 0.9/1/1.1 | 1.00x / 1.11x |',
                      table(rows, 2))

    def test_sections_in_order_and_plot_data(self) -> None:
        rows = summarise([
            Trial('episodes', '7.3', 'patched', 'xe',
                  {'episodes': 100, 'collateral_kills': 0}),
            Trial('kill', '7.3', 'baseline', 'xe',
                  {'kill_giveup_s': 3.1, 'collateral': 2}),
            _reap('patched', 0, 100.0, 0), _reap('patched', 1000, 90.0, 1000),
        ])
        self.assertEqual([r.section.name for r in rows],
                         ['reap', 'reap', 'kill', 'episodes'])
        text = table(rows, 1)
        self.assertLess(text.index('### Reaper'), text.index('### OOM kill'))
        self.assertIn('| 7.3 | xe | baseline | - | 3.1 | - | 2 |', text)
        self.assertIn('| 7.3 | xe | patched | 100 | 0 | - |', text)
        with tempfile.TemporaryDirectory() as d:
            write_plot(rows, Path(d))
            data = (Path(d) / 'bench.dat').read_text()
            self.assertIn('0.5 0.1000 0.1000 0.1000', data)   # k = 0
            self.assertIn('1000 0.0900', data)
            self.assertTrue((Path(d) / 'bench.gp').exists())

    def test_hand_written_analysis_is_kept(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            doc = Path(d) / 'bench.md'
            self.assertEqual(kept_analysis(doc), '')
            doc.write_text('# make bench\n| old table |\n')
            self.assertEqual(kept_analysis(doc), '')
            doc.write_text(f'| old table |\n{ANALYSIS_MARK}\nIt shows.\n')
            self.assertEqual(kept_analysis(doc),
                             f'\n{ANALYSIS_MARK}\nIt shows.\n')


if __name__ == '__main__':
    unittest.main()
