"""Kernel configuration: fragments merged, applied and checked.

A kernel's .config is made from kernel-config/ fragments, either by
`olddefconfig` (every symbol the fragments do not name takes its Kconfig
default) or by `allnoconfig` with the fragments as KCONFIG_ALLCONFIG
(every visible symbol they do not name is off: a kernel trimmed to what
the scenarios need, as tinyconfig trims). Either way every fragment line
must survive, as kunit.py checks its .kunitconfig: a hidden symbol
(MMU_NOTIFIER, ...) in a fragment, or a missing dependency, is silently
dropped by Kconfig and would change what a test means.
"""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BuildError, run

# In an output directory: the fragments its .config was made from
CONFIG_STAMP = '.oomgpu-config'
# How a platform's .config is made from its fragments (platforms.py)
OLDDEFCONFIG = 'olddefconfig'
ALLNOCONFIG = 'allnoconfig'


def merge_fragments(texts: list[str]) -> str:
    """Concatenates config fragments; where a later one sets a symbol an
    earlier one set, the earlier line goes, so validation checks what
    was meant."""
    later: set[str] = set()
    kept: list[list[str]] = []
    for text in reversed(texts):
        lines = []
        for line in text.splitlines(keepends=True):
            m = re.match(r'^(?:# )?(CONFIG_\w+)[= ]', line)
            if m and m.group(1) in later:
                continue
            lines.append(line)
        for line in lines:
            m = re.match(r'^(?:# )?(CONFIG_\w+)[= ]', line)
            if m:
                later.add(m.group(1))
        kept.append(lines)
    return ''.join(''.join(lines) for lines in reversed(kept))


def check_config(fragment: str, config: str) -> list[str]:
    """Fragment lines the final .config does not carry (as kunit.py checks).

    "CONFIG_X=n" and "# CONFIG_X is not set" both mean X must be unset.
    """
    have: dict[str, str] = {}
    for line in config.splitlines():
        m = re.match(r'^(CONFIG_\w+)=(.*)$', line)
        if m:
            have[m.group(1)] = m.group(2)
    missing = []
    for line in fragment.splitlines():
        line = line.strip()
        m = re.match(r'^(CONFIG_\w+)=(.*)$', line)
        off = re.match(r'^# (CONFIG_\w+) is not set$', line)
        if m and m.group(2) != 'n':
            if have.get(m.group(1)) != m.group(2):
                missing.append(line)
        elif (m and m.group(2) == 'n') or off:
            key = (m or off).group(1)   # type: ignore[union-attr]
            if key in have:
                missing.append(line)
    return missing


def settings(text: str) -> str:
    """The lines of a fragment that set something ("CONFIG_X=..." and "#
    CONFIG_X is not set"): what a stamp compares, so that editing a
    comment rebuilds nothing."""
    return ''.join(line for line in text.splitlines(keepends=True)
                   if re.match(r'^(CONFIG_\w+=|# CONFIG_\w+ is not set)',
                               line))


def configure(src: Path, out: Path, text: str, arch: str, how: str,
              what: str, validate: bool = True) -> bool:
    """Makes @out/.config of the kernel tree @src from the merged fragments
    @text (@how: OLDDEFCONFIG or ALLNOCONFIG); with @validate, fails if a
    fragment line was lost. Does nothing when @out was configured from the
    same text; returns whether it configured."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / CONFIG_STAMP
    want = f'# {how}\n{settings(text)}'
    if stamp.exists() and stamp.read_text() == want and \
            (out / '.config').exists():
        return False
    stamp.unlink(missing_ok=True)
    if how == ALLNOCONFIG:
        fragment = out / '.oomgpu-allconfig'
        fragment.write_text(text)
        run(['make', '-s', f'ARCH={arch}', f'O={out.name}',
             f'KCONFIG_ALLCONFIG={fragment}', 'allnoconfig'], cwd=src)
    else:
        (out / '.config').write_text(text)
        run(['make', '-s', f'ARCH={arch}', f'O={out.name}', 'olddefconfig'],
            cwd=src)
    missing = check_config(text, (out / '.config').read_text())
    if missing and validate:
        raise BuildError(
            f'{what}: these fragment lines did not survive {how}'
            ' (a hidden symbol must be selected from Kconfig, or a'
            ' dependency is missing):\n  ' + '\n  '.join(missing))
    stamp.write_text(want)
    return True
