"""The plot of make run: the victim's anonymous memory after the kill.

One line per OOM scenario and flavour, from the kernel log's events (the
kill, each reaper report, the reaper giving up, the victim gone); baseline
dashed, patched solid. gnuplot draws it when installed; the data and the
script are written either way, so the plot can be redrawn elsewhere.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .judge import BASELINE, Outcome


def write_plot(outcomes: list[Outcome], directory: Path) -> Path | None:
    """Writes reap.dat, reap.gp and (with gnuplot) reap.png in @directory;
    returns the PNG's path, or None if there is nothing to draw or no
    gnuplot."""
    # Victims with something to show after the kill (not those that just
    # exited before the reaper looked).
    series = [(o.label, o.flavour, o.victim.rss_timeline())
              for o in outcomes
              if o.victim is not None and len(o.victim.rss_timeline()) > 1]
    if not series:
        return None
    blocks = []
    for label, _, points in series:
        lines = [f'# {label}'] + [f'{t:.3f} {kb / 1024:.3f}'
                                  for t, kb in points]
        # Hold the last value to the right edge of the plot.
        lines.append(f'{max(p[0] for _, _, pts in series for p in pts) + 1:.3f}'
                     f' {points[-1][1] / 1024:.3f}')
        blocks.append('\n'.join(lines))
    data = directory / 'reap.dat'
    data.write_text('\n\n\n'.join(blocks) + '\n')

    plots = []
    colours: dict[str, int] = {}
    for i, (label, flavour, _) in enumerate(series):
        scenario = label.rsplit('@', 1)[0]
        colour = colours.setdefault(scenario, len(colours) + 1)
        dash = 2 if flavour == BASELINE else 1
        plots.append(f"'reap.dat' index {i} using 1:2 with steps "
                     f'linecolor {colour} dashtype {dash} linewidth 2 '
                     f"title '{label}'")
    script = directory / 'reap.gp'
    script.write_text(
        'set terminal png size 1100,650 noenhanced\n'
        "set output 'reap.png'\n"
        "set title \"Victim's anonymous memory after the OOM kill "
        '(baseline dashed, patched solid)"\n'
        "set xlabel 'guest seconds after the kill'\n"
        "set ylabel 'anon-rss (MiB)'\n"
        'set key below\n'
        'set yrange [0:*]\n'
        'plot ' + ', \\\n     '.join(plots) + '\n')
    if not shutil.which('gnuplot'):
        return None
    res = subprocess.run(['gnuplot', script.name], cwd=directory,
                         capture_output=True, text=True)
    return directory / 'reap.png' if res.returncode == 0 else None
