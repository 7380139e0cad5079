"""Fragment validation: every fragment line must survive olddefconfig."""

import unittest

from oomgpu.kbuild import check_config

FRAGMENT = """
# comment
CONFIG_64BIT=y
CONFIG_MMU_NOTIFIER=y
CONFIG_SWAP=n
# CONFIG_KASAN is not set
CONFIG_LOG_BUF_SHIFT=18
"""


class CheckConfigTest(unittest.TestCase):
    def test_all_survived(self) -> None:
        config = ('CONFIG_64BIT=y\nCONFIG_MMU_NOTIFIER=y\n'
                  '# CONFIG_SWAP is not set\nCONFIG_LOG_BUF_SHIFT=18\n')
        self.assertEqual(check_config(FRAGMENT, config), [])

    def test_hidden_symbol_dropped_and_value_changed(self) -> None:
        config = ('CONFIG_64BIT=y\nCONFIG_SWAP=y\nCONFIG_KASAN=y\n'
                  'CONFIG_LOG_BUF_SHIFT=17\n')
        self.assertEqual(check_config(FRAGMENT, config),
                         ['CONFIG_MMU_NOTIFIER=y', 'CONFIG_SWAP=n',
                          '# CONFIG_KASAN is not set',
                          'CONFIG_LOG_BUF_SHIFT=18'])




class SettingsTest(unittest.TestCase):
    def test_a_comment_is_not_a_setting(self) -> None:
        from oomgpu.kconfig import settings
        a = '# why\nCONFIG_A=y\n# CONFIG_B is not set\n'
        b = '# why, reworded\n\nCONFIG_A=y\n# CONFIG_B is not set\n'
        self.assertEqual(settings(a), settings(b))
        self.assertNotEqual(settings(a), settings(a + 'CONFIG_C=y\n'))


if __name__ == '__main__':
    unittest.main()
