"""make outgoing's rewrite of one patch."""

import unittest

from oomgpu.outgoing import PLACEHOLDER, Recipients, rewrite

PATCH = f"""From 08863b8504f7 Mon Sep 17 00:00:00 2001
From: {PLACEHOLDER}
Date: Sun, 22 Nov 2026 04:59:01 +0000
Subject: [PATCH] mm/mmu_notifier: end the interval invalidation when a
 classic notifier refuses

Body.

Fixes: 99cb252f5e68 ("mm/mmu_notifier: add an interval tree notifier")
Cc: stable@vger.kernel.org
Signed-off-by: {PLACEHOLDER}
---
 mm/mmu_notifier.c | 2 +-
"""

COVER = f"""From 1 Mon Sep 17 00:00:00 2001
From: {PLACEHOLDER}
Subject: [PATCH 0/3] mm/oom_kill: reap around busy mmu notifier ranges

Text.

oomgpu developers (3):
  mm/mmu_notifier: say which part of a refused non-blocking range is busy
"""


class Rewrite(unittest.TestCase):
    who = Recipients(['Andrew Morton <akpm@linux-foundation.org>'],
                     ['linux-mm@kvack.org', 'Jason Gunthorpe <jgg@nvidia.com>'])
    me = 'Ada Lovelace <ada@example.org>'

    def test_identity_replaces_the_placeholder(self):
        out = rewrite(PATCH, self.me, self.who)
        self.assertNotIn(PLACEHOLDER, out)
        self.assertIn(f'From: {self.me}\n', out)
        self.assertIn(f'Signed-off-by: {self.me}\n', out)
        self.assertIn('Cc: stable@vger.kernel.org\n', out)

    def test_recipients_follow_the_folded_subject(self):
        out = rewrite(PATCH, self.me, self.who)
        self.assertIn(' classic notifier refuses\n'
                      'To: Andrew Morton <akpm@linux-foundation.org>\n'
                      'Cc: linux-mm@kvack.org,\n'
                      '    Jason Gunthorpe <jgg@nvidia.com>\n\nBody.', out)

    def test_cover_letter_shortlog_names_the_sender(self):
        out = rewrite(COVER, self.me, self.who)
        self.assertIn('\nAda Lovelace (3):\n', out)


if __name__ == '__main__':
    unittest.main()


class OnePersonOneAddress(unittest.TestCase):
    def test_names_are_compared_not_addresses(self):
        from oomgpu.outgoing import _name
        self.assertEqual(_name('"Liam R. Howlett" <liam@infradead.org>'),
                         'Liam R. Howlett')
        self.assertEqual(_name('Michal Hocko <mhocko@suse.com>'),
                         _name('Michal Hocko <mhocko@kernel.org>'))
        self.assertEqual(_name('linux-mm@kvack.org'), 'linux-mm@kvack.org')
