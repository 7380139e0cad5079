"""Finds kernel splats in a console log.

A splat fails the scenario that produced it even when its program passed:
a WARN in the reaper or a lockdep report in the driver is a bug whatever
the test printed. Only kernel lines (those carrying printk's timestamp) are
searched, so a guest program that prints the word WARNING cannot trip it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

_KERNEL_LINE = re.compile(r'^\[\s*(\d+\.\d+)\] ?(.*)$')

# (kind, pattern). Order matters only for naming: the first match wins.
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ('KASAN', re.compile(r'BUG: KASAN:')),
    ('UBSAN', re.compile(r'UBSAN:')),
    ('kmemleak', re.compile(r'kmemleak: \d+ new suspected memory leaks')),
    ('lockdep', re.compile(
        r'WARNING: (possible (recursive|circular) locking|possible irq lock'
        r'|inconsistent lock state|suspicious RCU usage|bad unlock balance'
        r'|held lock freed|lock held when returning to user space'
        r'|Nested lock was not taken|.*still has locks held)'
        r'|INFO: trying to register non-static key'
        r'|DEBUG_LOCKS_WARN_ON')),
    ('hung task', re.compile(r'INFO: task .* blocked for more than')),
    ('RCU stall', re.compile(r'rcu: INFO: .*detected stalls?'
                             r'|rcu_.* self-detected stall')),
    ('soft lockup', re.compile(r'BUG: soft lockup')),
    ('panic', re.compile(r'Kernel panic - not syncing')),
    ('Oops', re.compile(r'\bOops\b|general protection fault'
                        r'|Unable to handle kernel')),
    ('BUG', re.compile(r'\bBUG: |kernel BUG at')),
    ('WARNING', re.compile(r'WARNING: |------------\[ cut here \]')),
]


@dataclass(frozen=True)
class Splat:
    kind: str
    time: float
    line: str


def find_splats(lines: Iterable[str], untimed: bool = False
                ) -> list[Splat]:
    """Every splat in the log, first line of each report only. Only the
    kernel's lines count, known by their timestamp, unless @untimed: a
    console no user space writes to, of a kernel without PRINTK_TIME
    (kunit.py's), where every line counts (at time 0)."""
    found: list[Splat] = []
    in_report = False
    for raw in lines:
        match = _KERNEL_LINE.match(raw.rstrip('\r\n'))
        if match:
            time, text = float(match.group(1)), match.group(2)
        elif untimed:
            time, text = 0.0, raw.rstrip('\r\n')
        else:
            continue
        kind = next((k for k, p in _PATTERNS if p.search(text)), None)
        if kind is None:
            if text.startswith('---[ end trace'):
                in_report = False
            continue
        # "cut here" is followed by the WARNING/BUG line of the same report.
        if in_report and kind in ('WARNING', 'BUG') and found and \
                found[-1].line.endswith('cut here ]------------'):
            found[-1] = Splat(kind, found[-1].time, text)
            continue
        in_report = True
        found.append(Splat(kind, time, text))
    return found
