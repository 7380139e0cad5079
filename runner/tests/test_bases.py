"""kernel-patches/<base>/BASE files and choosing a base."""

import tempfile
import unittest
from pathlib import Path

from oomgpu import bases

TOP = Path(__file__).resolve().parents[2]


class CheckedInBases(unittest.TestCase):
    def test_both_bases_parse_and_list_existing_series(self):
        found = bases.all_bases(TOP)
        self.assertIn('7.3', found)
        self.assertIn('6.12', found)
        for base in found.values():
            for flavour in bases.FLAVOURS:
                for directory, listing in base.series[flavour]:
                    path = base.directory / directory / listing
                    self.assertTrue(path.exists(), path)
                    for name in path.read_text().split():
                        self.assertTrue((path.parent / name).exists(), name)

    def test_an_experiment_is_the_patched_flavour_and_its_list(self):
        b73 = bases.all_bases(TOP)['7.3']
        self.assertTrue(b73.has_experiment('no-thp-fix'))
        self.assertEqual(b73.flavour_series('no-thp-fix'),
                         b73.series['patched'] +
                         (('experiments', 'no-thp-fix'),))
        self.assertEqual(b73.flavour_series('baseline'),
                         b73.series['baseline'])
        self.assertFalse(b73.has_experiment('nope'))
        with self.assertRaises(ValueError):
            b73.flavour_series('nope')

    def test_smp_base_has_no_time_travel(self):
        b73 = bases.all_bases(TOP)['7.3']
        self.assertFalse(b73.time_travel)
        self.assertIn('ncpus=2', b73.boot_args)
        self.assertEqual(b73.kernel_series, '7.3')
        self.assertTrue(bases.all_bases(TOP)['6.12'].time_travel)

    def test_default_is_7_3(self):
        self.assertEqual(bases.pick(TOP, None, None).name, '7.3')
        self.assertEqual(bases.pick(TOP, '6.12', None).name, '6.12')
        with self.assertRaisesRegex(ValueError, 'bases: 6.12, 7.3'):
            bases.pick(TOP, '5.15', None)


class KsrcTrees(unittest.TestCase):
    def _tree(self, version: str, patchlevel: str) -> Path:
        d = Path(tempfile.mkdtemp())
        (d / 'Makefile').write_text(
            f'# SPDX\nVERSION = {version}\nPATCHLEVEL = {patchlevel}\n'
            'SUBLEVEL = 4\n')
        (d / '.git').mkdir()
        return d

    def test_a_tree_picks_its_series(self):
        self.assertEqual(bases.pick(TOP, None, self._tree('7', '3')).name,
                         '7.3')
        self.assertEqual(bases.pick(TOP, None, self._tree('6', '12')).name,
                         '6.12')

    def test_other_versions_name_the_bases_that_exist(self):
        with self.assertRaisesRegex(ValueError,
                                    r'Linux 7\.2; oomgpu has series for '
                                    r'6\.12, 7\.3 only'):
            bases.pick(TOP, None, self._tree('7', '2'))

    def test_not_a_tree_says_so_in_one_line(self):
        with self.assertRaisesRegex(ValueError, '^no kernel tree at /nonex'):
            bases.pick(TOP, None, Path('/nonexistent'))
        plain = self._tree('7', '3')
        (plain / '.git').rmdir()
        with self.assertRaisesRegex(ValueError, 'is not a git tree'):
            bases.pick(TOP, None, plain)

    def test_base_must_match_the_tree(self):
        with self.assertRaisesRegex(ValueError, 'not BASE=6.12'):
            bases.pick(TOP, '6.12', self._tree('7', '3'))


if __name__ == '__main__':
    unittest.main()
