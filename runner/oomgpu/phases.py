"""Where a run's time went: fetch, each kernel build, boots, kunit.py.

Each step that can take minutes records itself with `with phase(name):`;
`make test` and `make check` print the table before their verdict, so a
regression in test time is seen the day it happens. A phase inside
another counts for itself only: the outer one records its time without
the inner one's, so the rows add up to the total. Phases are entered from
the runner's main thread only.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

_records: list[tuple[str, float]] = []
_start = time.monotonic()
# Per open phase: the time its inner phases took
_inner: list[float] = []


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Records how long the body took as @name (also when it raises),
    less what phases inside it recorded."""
    start = time.monotonic()
    _inner.append(0.0)
    try:
        yield
    finally:
        elapsed = time.monotonic() - start
        inner = _inner.pop()
        if _inner:
            _inner[-1] += elapsed
        _records.append((name, elapsed - inner))


def reset() -> None:
    """Forgets what was recorded and restarts the total (unit tests)."""
    global _start
    _records.clear()
    _start = time.monotonic()


def records() -> list[tuple[str, float]]:
    return list(_records)


def table(total: float | None = None) -> str:
    """The phases in the order they ran, the same name summed, then what
    no phase covered and the total, as '#' lines (KTAP diagnostics)."""
    total = time.monotonic() - _start if total is None else total
    summed: dict[str, tuple[float, int]] = {}
    for name, seconds in _records:
        spent, count = summed.get(name, (0.0, 0))
        summed[name] = (spent + seconds, count + 1)
    width = max([len(n) for n in summed] + [len('total')])
    lines = ['# where the time went (wall clock, s)']
    for name, (seconds, count) in summed.items():
        times = f'  ({count}x)' if count > 1 else ''
        lines.append(f'#   {name:<{width}} {seconds:7.0f}{times}')
    covered = sum(s for s, _ in summed.values())
    lines.append(f'#   {"other":<{width}} {max(0.0, total - covered):7.0f}')
    lines.append(f'#   {"total":<{width}} {total:7.0f}')
    return '\n'.join(lines) + '\n'
