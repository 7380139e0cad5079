"""make bench: figures of repeated boots, summarised as min / median / max.

One boot is one trial. A trial belongs to a section of the report:

  reap      one reaper pass over a VMA with k busy ranges
            (tests/bench_reap.c): rows by k, each row's pass-1 time also
            as a ratio to the idle reference (k = 0) of the same flavour,
            by median trial and by fastest trial
  fastpath  munmap / mprotect / MADV_DONTNEED over memory that many idle
            interval notifiers mirror (tests/bench_fastpath.c): rows by
            operation, the patched row's speed relative to baseline's,
            by median trial and by fastest trial
  kill      an OOM kill of a GPU process, from the kernel log: kill to the
            reaper's first report and kill to the victim gone, per policy
  episodes  many OOM episodes in one boot (driver/selftests/oom_gpu.c episodes):
            collateral kills, memory and driver objects left, per policy
  tlb       the reaper pass on x86_64 (bench_reap.c again): the TLB
            shootdowns each pass sent, rows by k

Each figure's trials become min / median / max.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .judge import BASELINE, Outcome


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    row_heading: str
    # (key, heading, scale, unit), in table order
    figures: tuple[tuple[str, str, float, str], ...]
    # heading of the ratio column, or '' for none
    ratio_heading: str = ''


REAP = Section('reap', 'Reaper pass cost vs busy ranges', 'k', (
    ('pass1_us', 'pass 1', 1e-3, 'ms'),
    ('pass1_calls', 'calls', 1, ''),
    ('pass1_reaped_kb', 'reaped', 1 / 1024, 'MiB'),
    ('pass2_us', 'pass 2', 1e-3, 'ms'),
), 'vs k=0 (median / fastest)')
FASTPATH = Section('fastpath', 'Invalidations nobody refuses', 'operation', (
    ('ns', 'time', 1e-3, 'us'),
), 'speed vs baseline (median / fastest)')
KILL = Section('kill', 'OOM kill to memory back, per policy', 'policy', (
    ('kill_reap_s', 'kill to first reap', 1, 's'),
    ('kill_giveup_s', 'kill to reaper gave up', 1, 's'),
    ('kill_gone_s', 'kill to victim gone', 1, 's'),
    ('collateral', 'collateral kills', 1, ''),
))
EPISODES = Section('episodes', 'Consecutive OOM episodes in one boot',
                   'policy', (
                       ('episodes', 'episodes', 1, ''),
                       ('collateral_kills', 'collateral kills', 1, ''),
                       ('bystanders_lost', 'bystanders killed', 1, ''),
                       ('memory_left_kb', 'memcg memory left', 1, 'kB'),
                       ('driver_objects_left', 'driver objects left', 1, ''),
                       ('episode_s_median', 'episode (median)', 1, 's'),
                   ))
TLB = Section('tlb', 'TLB shootdowns of a reaper pass (x86_64)', 'k', (
    ('pass1_tlb_flushes', 'pass 1 flushes', 1, ''),
    ('pass1_calls', 'calls', 1, ''),
    ('pass1_reaped_kb', 'reaped', 1 / 1024, 'MiB'),
    ('pass2_tlb_flushes', 'pass 2 flushes', 1, ''),
))
SECTIONS = (REAP, FASTPATH, KILL, EPISODES, TLB)

# bench_fastpath's operations, in table order
FASTPATH_OPS = ('madv_dontneed', 'mprotect', 'munmap')


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


@dataclass(frozen=True)
class Trial:
    section: str
    base: str
    flavour: str
    row: str            # k, operation or policy
    metrics: dict[str, float]


@dataclass
class Row:
    section: Section
    base: str
    flavour: str
    row: str
    figures: dict[str, Spread] = field(default_factory=dict)
    # the section's ratio by median trial, and by fastest trial: noise
    # that only adds time (a busy host) spares the fastest trials
    ratio: float | None = None
    ratio_fastest: float | None = None

    @property
    def order(self) -> tuple:
        row: tuple = (0, self.row)
        if self.section in (REAP, TLB):
            row = _reap_order(self.row)
        elif self.section is FASTPATH and self.row in FASTPATH_OPS:
            row = (FASTPATH_OPS.index(self.row), '')
        elif self.section in (KILL, EPISODES):
            # UML's rows, then each other platform's ("xe, x86_64")
            row = (',' in self.row, self.row)
        return (self.base, row, self.flavour != BASELINE, self.flavour)


# The VMA size of most reap rows; others say theirs in the row
REAP_VMA_KB = 1024 * 1024


def _reap_row(k: int, vma_kb: int) -> str:
    if vma_kb == REAP_VMA_KB:
        return str(k)
    return f'{k}, {vma_kb // 1024} MiB VMA'


def _reap_order(row: str) -> tuple:
    """Rows of the usual VMA first, then by VMA size; by k within."""
    k, _, rest = row.partition(',')
    vma = int(rest.split()[0]) * 1024 if rest else REAP_VMA_KB
    return (vma, int(k))


def trials_of(outcome: Outcome) -> list[Trial]:
    """The trials one boot gives, by what its program printed or, for the
    OOM scenarios, what the kernel log says of the victim."""
    m = outcome.metrics
    at = (outcome.base, outcome.flavour)
    if 'k' in m:
        row = _reap_row(int(m['k']), int(m.get('vma_kb', REAP_VMA_KB)))
        # Times under QEMU's TCG are not comparable with UML's: x86_64
        # gives the counts UML lacks.
        section = REAP if outcome.platform == 'uml' else TLB
        return [Trial(section.name, *at, row, m)]
    if any(f'{op}_ns' in m for op in FASTPATH_OPS):
        return [Trial(FASTPATH.name, *at, op, {'ns': m[f'{op}_ns']})
                for op in FASTPATH_OPS if f'{op}_ns' in m]
    # Rows of the OOM scenarios say where they ran unless in UML
    policy = outcome.scenario.policy
    if outcome.platform != 'uml':
        policy = f'{policy}, {outcome.platform}'
    if 'episodes' in m:
        return [Trial(EPISODES.name, *at, policy, m)]
    kill = outcome.victim
    if kill is None:
        return []
    figures = {'collateral': float(len(outcome.collateral))}
    first = kill.first_pass()
    if first is not None:
        figures['kill_reap_s'] = first[0] - kill.time
    if kill.unable_at is not None:
        figures['kill_giveup_s'] = kill.unable_at - kill.time
    if kill.gone_at is not None:
        figures['kill_gone_s'] = kill.gone_at - kill.time
    return [Trial(KILL.name, *at, policy, figures)]


def summarise(trials: list[Trial]) -> list[Row]:
    """Rows by section, base, row and flavour, with each figure's spread
    and the section's ratio."""
    sections = {s.name: s for s in SECTIONS}
    rows: dict[tuple[str, str, str, str], Row] = {}
    for t in trials:
        section = sections[t.section]
        key = (t.section, t.base, t.row, t.flavour)
        row = rows.setdefault(key, Row(section, t.base, t.flavour, t.row))
        for name, *_ in section.figures:
            if name in t.metrics:
                row.figures.setdefault(name, Spread([])).values.append(
                    t.metrics[name])
    for (section, base, name, flavour), row in rows.items():
        if section == REAP.name:
            # pass 1 over the idle VMA's of the same size, same flavour
            idle = '0' + name[len(name.split(',')[0]):]
            row.ratio, row.ratio_fastest = _ratio(
                row, rows.get((section, base, idle, flavour)), 'pass1_us',
                inverse=False)
        elif section == FASTPATH.name and flavour != BASELINE:
            # baseline's time over this flavour's: above 1 is faster
            row.ratio, row.ratio_fastest = _ratio(
                row, rows.get((section, base, name, BASELINE)), 'ns',
                inverse=True)
    return sorted(rows.values(), key=lambda r: (
        SECTIONS.index(r.section), r.order))


def _ratio(row: Row, ref: Row | None, figure: str,
           inverse: bool) -> tuple[float | None, float | None]:
    """@row's @figure over @ref's (@ref's over @row's if @inverse), by
    median trial and by fastest trial."""
    if ref is None or figure not in ref.figures or figure not in row.figures:
        return None, None
    mine, theirs = row.figures[figure], ref.figures[figure]
    if inverse:
        mine, theirs = theirs, mine
    return (_over(mine.median, theirs.median), _over(mine.low, theirs.low))


def _over(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def table(rows: list[Row], trials: int) -> str:
    """One markdown table per section that has rows (min/median/max when
    the trials differ)."""
    out = []
    for section in SECTIONS:
        mine = [r for r in rows if r.section is section]
        if not mine:
            continue
        head = ['base', section.row_heading, 'flavour'] + [
            f'{h} ({u})' if u else h for _, h, _, u in section.figures]
        if section.ratio_heading:
            head.append(section.ratio_heading)
        out += [f'### {section.title}', '',
                '| ' + ' | '.join(head) + ' |',
                '|' + ' --- |' * len(head)]
        for r in mine:
            cells = [r.base, r.row, r.flavour]
            for name, _, scale, _ in section.figures:
                s = r.figures.get(name)
                cells.append(s.text(scale) if s else '-')
            if section.ratio_heading:
                cells.append(' / '.join(
                    f'{x:.2f}x' if x is not None else '-'
                    for x in (r.ratio, r.ratio_fastest))
                    if r.ratio is not None else '-')
            out.append('| ' + ' | '.join(cells) + ' |')
        out.append('')
    out.append(f'{trials} trial(s) per row unless a scenario asks for '
               'fewer; a cell is min/median/max, or one value when all '
               'trials agree.')
    return '\n'.join(out) + '\n'


def to_json(rows: list[Row], trials: int, command: str) -> dict:
    return {
        'command': command,
        'trials': trials,
        'rows': [{
            'section': r.section.name, 'base': r.base, 'flavour': r.flavour,
            'row': r.row, 'ratio': r.ratio,
            'ratio_fastest': r.ratio_fastest,
            'figures': {n: {'min': s.low, 'median': s.median,
                            'max': s.high, 'values': s.values}
                        for n, s in r.figures.items()},
        } for r in rows],
    }


# In docs/bench.md, what follows this line is written by hand and kept when
# make bench writes the tables again.
ANALYSIS_MARK = '<!-- written by hand below; make bench keeps it -->'


def kept_analysis(path: Path) -> str:
    """The hand-written part of @path (from ANALYSIS_MARK on), or ''."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ''
    at = text.find(ANALYSIS_MARK)
    return '\n' + text[at:] if at >= 0 else ''


def write_plot(rows: list[Row], directory: Path) -> Path | None:
    """bench.dat, bench.gp and (with gnuplot) bench.png in @directory: the
    reaper's pass 1 and pass 2 times against k, per flavour, log-log (k = 0
    drawn at 0.5). None if there is nothing to draw or no gnuplot."""
    reap = [r for r in rows if r.section is REAP and r.row.isdigit() and
            'pass1_us' in r.figures]
    if not reap:
        return None
    blocks, plots = [], []
    flavours = sorted({r.flavour for r in reap},
                      key=lambda f: (f != BASELINE, f))
    for i, flavour in enumerate(flavours):
        lines = [f'# {flavour}: k pass1_ms (min median max) '
                 'pass2_ms (min median max)']
        for r in sorted((r for r in reap if r.flavour == flavour),
                        key=lambda r: int(r.row)):
            k = int(r.row) or 0.5
            p1 = r.figures['pass1_us']
            p2 = r.figures.get('pass2_us', p1)
            lines.append(f'{k} {p1.low / 1e3:.4f} {p1.median / 1e3:.4f} '
                         f'{p1.high / 1e3:.4f} {p2.low / 1e3:.4f} '
                         f'{p2.median / 1e3:.4f} {p2.high / 1e3:.4f}')
        blocks.append('\n'.join(lines))
        plots.append(f"'bench.dat' index {i} using 1:3:2:4 with yerrorlines "
                     f"linecolor {i + 1} linewidth 2 "
                     f"title '{flavour}, pass 1'")
        plots.append(f"'bench.dat' index {i} using 1:6:5:7 with yerrorlines "
                     f"linecolor {i + 1} dashtype 2 linewidth 2 "
                     f"title '{flavour}, pass 2 (nothing left to free)'")
    (directory / 'bench.dat').write_text('\n\n\n'.join(blocks) + '\n')
    script = directory / 'bench.gp'
    script.write_text('\n'.join([
        'set terminal pngcairo size 800,520 noenhanced',
        "set output 'bench.png'",
        'set title "One reaper pass (process_mrelease) over a 1 GiB VMA '
        'with k busy ranges"',
        "set xlabel 'busy ranges k (k = 0 at 0.5)'",
        "set ylabel 'guest ms (min, median, max)'",
        'set logscale xy',
        'set key top left font ",9"',
        'plot ' + ', \\\n     '.join(plots),
    ]) + '\n')
    if not shutil.which('gnuplot'):
        return None
    res = subprocess.run(['gnuplot', script.name], cwd=directory,
                         capture_output=True, text=True)
    return directory / 'bench.png' if res.returncode == 0 else None
