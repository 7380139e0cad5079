"""The plot of make run: the victim's anonymous memory after the kill.

One line per OOM scenario, from the kernel log's events (the kill, each
reaper report, the reaper giving up, the victim gone); one panel per
flavour and platform, baseline first, a scenario in the same colour in each. gnuplot draws it when installed; the data and the
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
    series = [(o.label, o.kernel, o.victim.rss_timeline())
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

    colours: dict[str, int] = {}
    panels: dict[str, list[str]] = {}
    for i, (label, flavour, _) in enumerate(series):
        scenario = label.rsplit('@', 1)[0]
        colour = colours.setdefault(scenario, len(colours) + 1)
        panels.setdefault(flavour, []).append(
            f"'reap.dat' index {i} using 1:2 with steps linecolor {colour} "
            f"linewidth 2 title '{scenario}'")
    # UML first, baseline before the other flavours, side by side.
    order = sorted(panels, key=lambda k: ('/' in k, not k.endswith(BASELINE),
                                          k))
    script = directory / 'reap.gp'
    text = [
        f'set terminal pngcairo size {600 * len(order)},520 noenhanced',
        "set output 'reap.png'",
        f'set multiplot layout 1,{len(order)} title "Victim\'s anonymous '
        'memory after the OOM kill (kernel log events)"',
        "set xlabel 'guest seconds after the kill'",
        "set ylabel 'anon-rss (MiB)'",
        'set key bottom left font ",9"',
        f'set xrange [0:{max(p[0] for _, _, pts in series for p in pts) + 1:.1f}]',
        'set yrange [0:*]',
    ]
    for flavour in order:
        text.append(f"set title '{flavour}'")
        text.append('plot ' + ', \\\n     '.join(panels[flavour]))
    text.append('unset multiplot')
    script.write_text('\n'.join(text) + '\n')
    if not shutil.which('gnuplot'):
        return None
    res = subprocess.run(['gnuplot', script.name], cwd=directory,
                         capture_output=True, text=True)
    return directory / 'reap.png' if res.returncode == 0 else None
