"""The newc cpio writer produces an archive the kernel can unpack."""

import gzip
import stat
import tempfile
import unittest
from pathlib import Path

from oomgpu.rootfs import IMAGE_DIRS, _Entry, image_dirs, write_cpio


def read_newc(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    out = []
    pos = 0
    while True:
        head = data[pos:pos + 110]
        assert head[:6] == b'070701', head[:6]
        f = [int(head[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, size, rmaj, rmin, namesize = f[1], f[6], f[9], f[10], f[11]
        name = data[pos + 110:pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += (4 - pos % 4) % 4
        body = data[pos:pos + size]
        pos += size + (4 - size % 4) % 4
        if name == 'TRAILER!!!':
            return out
        out.append((name, mode, body, (rmaj, rmin)))


class CpioTest(unittest.TestCase):
    def test_round_trip(self) -> None:
        entries = [_Entry('dev', stat.S_IFDIR | 0o755),
                   _Entry('dev/console', stat.S_IFCHR | 0o600, rdev=(5, 1)),
                   _Entry('init', stat.S_IFREG | 0o755, b'#!/bin/sh\n'),
                   _Entry('odd', stat.S_IFREG | 0o644, b'abcde')]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / 'x.cpio.gz'
            write_cpio(entries, path)
            data = gzip.decompress(path.read_bytes())
            first = path.read_bytes()
            write_cpio(entries, path)
            self.assertEqual(first, path.read_bytes(), 'not reproducible')
        got = read_newc(data)
        self.assertEqual([g[0] for g in got], ['dev', 'dev/console', 'init',
                                               'odd'])
        self.assertTrue(stat.S_ISCHR(got[1][1]))
        self.assertEqual(got[1][3], (5, 1))
        self.assertEqual(got[2][2], b'#!/bin/sh\n')
        self.assertEqual(got[3][2], b'abcde')


class ImageDirsTest(unittest.TestCase):
    def test_parents_of_extra_programs_come_first_and_once(self) -> None:
        got = image_dirs(['kselftest/mm/hmm-tests',
                          'kselftest/mm/mrelease_test', 'tests/x'])
        self.assertEqual(got, list(IMAGE_DIRS) + ['kselftest',
                                                  'kselftest/mm'])


if __name__ == '__main__':
    unittest.main()
