"""make bench: figures of repeated boots, summarised as min / median / max.

Each bench scenario prints "# key=value" figures (tests/bench_reap.c); one
boot is one trial. Rows are (base, flavour, k busy ranges); a figure's
trials become min / median / max, and each row's first-pass time is also
given as a ratio to the idle reference (k = 0) of the same flavour.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

# The figures kept, in table order: (key, heading, scale, unit)
FIGURES = (
    ('pass1_us', 'pass 1', 1e-3, 'ms'),
    ('pass1_calls', 'calls', 1, ''),
    ('pass1_reaped_kb', 'reaped', 1 / 1024, 'MiB'),
    ('pass2_us', 'pass 2', 1e-3, 'ms'),
)


def _number(value: float) -> str:
    """Counts as integers, the rest to four significant digits."""
    if float(value).is_integer() and abs(value) < 1e9:
        return str(int(value))
    return f'{value:.4g}'


@dataclass
class Spread:
    values: list[float]

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def text(self, scale: float) -> str:
        parts = [self.low * scale, self.median * scale, self.high * scale]
        if parts[0] == parts[2]:
            return _number(parts[1])
        return '/'.join(_number(p) for p in parts)


@dataclass
class Row:
    base: str
    flavour: str
    k: int
    figures: dict[str, Spread] = field(default_factory=dict)
    # median pass-1 time over the k = 0 row's median, same base/flavour
    vs_idle: float | None = None


Trial = tuple[str, str, dict[str, float]]   # base, flavour, metrics


def summarise(trials: list[Trial]) -> list[Row]:
    """Rows by base, flavour and k, with each figure's spread."""
    rows: dict[tuple[str, str, int], Row] = {}
    for base, flavour, metrics in trials:
        if 'k' not in metrics:
            continue
        key = (base, flavour, int(metrics['k']))
        row = rows.setdefault(key, Row(base, flavour, key[2]))
        for name, *_ in FIGURES:
            if name in metrics:
                row.figures.setdefault(name, Spread([])).values.append(
                    metrics[name])
    for row in rows.values():
        idle = rows.get((row.base, row.flavour, 0))
        if idle and 'pass1_us' in idle.figures and 'pass1_us' in row.figures:
            ref = idle.figures['pass1_us'].median
            if ref > 0:
                row.vs_idle = row.figures['pass1_us'].median / ref
    return sorted(rows.values(), key=lambda r: (r.base, r.k, r.flavour))


def table(rows: list[Row], trials: int) -> str:
    """The plain-text and markdown table (min/median/max when they differ)."""
    head = ['base', 'k', 'flavour'] + [
        f'{h} ({u})' if u else h for _, h, _, u in FIGURES] + ['vs k=0']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + ' --- |' * len(head)]
    for r in rows:
        cells = [r.base, str(r.k), r.flavour]
        for name, _, scale, _ in FIGURES:
            s = r.figures.get(name)
            cells.append(s.text(scale) if s else '-')
        cells.append(f'{r.vs_idle:.2f}x' if r.vs_idle is not None else '-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    lines.append(f'{trials} trial(s) per row; a cell is min/median/max, or '
                 'one value when all trials agree.')
    return '\n'.join(lines) + '\n'


def to_json(rows: list[Row], trials: int, command: str) -> dict:
    return {
        'command': command,
        'trials': trials,
        'rows': [{
            'base': r.base, 'flavour': r.flavour, 'k': r.k,
            'vs_idle': r.vs_idle,
            'figures': {n: {'min': s.low, 'median': s.median,
                            'max': s.high, 'values': s.values}
                        for n, s in r.figures.items()},
        } for r in rows],
    }
