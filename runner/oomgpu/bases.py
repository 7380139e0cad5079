"""Kernel bases: which Linux a run builds on, and what differs per base.

A base is a directory kernel-patches/<name>/ with a BASE file: the Debian
source package and its pin, where apt finds it, the series each flavour
carries, the UML config fragment of that base and the boot arguments its
UML needs, and the x86_64 fragment where the base runs under QEMU too. Everything that differs between 6.12 and 7.3 lives there, so
the rest of the runner never asks which base it is on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The base of `make test`, `make run` and `make patches-check` unless
# BASE= (or a KSRC= tree) says otherwise.
DEFAULT_BASE = '7.3'
FLAVOURS = ('baseline', 'patched')
# kernel-patches/<base>/experiments/<name>: experiment flavours' lists
EXPERIMENTS = 'experiments'


@dataclass(frozen=True)
class Base:
    name: str               # '7.3', the directory under kernel-patches/
    directory: Path
    package: str            # linux-source-7.3
    version: str            # the pinned Debian version
    tarball_sha256: str
    suite: str              # Debian suite to fetch from ('' = apt's own)
    # Per flavour: (series directory, list file) in the order applied
    series: dict[str, tuple[tuple[str, str], ...]]
    # Applied after the driver is placed (adapts it to this base)
    after_driver: tuple[tuple[str, str], ...]
    config: tuple[str, ...]      # extra UML fragments under kernel-config/
    # The x86_64 kernel's fragments of this base (platforms.py); none:
    # the base is UML only
    x86_64_config: tuple[str, ...]
    boot_args: tuple[str, ...]   # extra UML command line
    time_travel: bool            # time-travel=inf-cpu available (!SMP)

    @property
    def kernel_series(self) -> str:
        """'7.3' from '7.3.4-1~bpo13+1': what a KSRC tree must match."""
        return '.'.join(self.version.split('.')[:2])

    def flavour_series(self, flavour: str) -> tuple[tuple[str, str], ...]:
        """(series directory, list file) pairs of @flavour: baseline,
        patched, or an experiment: the patched flavour with the list
        kernel-patches/<base>/experiments/<flavour> on top (a part of the
        series left out, to show that a test can fail)."""
        if flavour in self.series:
            return self.series[flavour]
        if self.has_experiment(flavour):
            return self.series['patched'] + ((EXPERIMENTS, flavour),)
        raise ValueError(f'base {self.name} has no flavour or experiment '
                         f'{flavour!r}')

    def has_experiment(self, name: str) -> bool:
        """Whether kernel-patches/<base>/experiments/<name> lists one."""
        return (self.directory / EXPERIMENTS / name).is_file()

    def series_dirs(self) -> list[Path]:
        """Directories of series that are mailed (the patched flavour's),
        in the order they apply."""
        names = [name for name, _ in self.series['patched']]
        return [self.directory / n for n in names]


def _pairs(value: str) -> tuple[tuple[str, str], ...]:
    """'a/series b/baseline' -> (('a', 'series'), ('b', 'baseline'))."""
    out = []
    for item in value.split():
        directory, _, listing = item.partition('/')
        if not listing:
            raise ValueError(f'{item!r}: expected DIRECTORY/LISTFILE')
        out.append((directory, listing))
    return tuple(out)


def read_base(directory: Path) -> Base:
    fields: dict[str, str] = {}
    for line in (directory / 'BASE').read_text().splitlines():
        line = line.strip()
        if line and not line.startswith('#'):
            key, _, value = line.partition('=')
            fields[key.strip()] = value.strip()
    try:
        return Base(
            name=directory.name, directory=directory,
            package=fields['package'], version=fields['version'],
            tarball_sha256=fields['tarball-sha256'],
            suite=fields.get('suite', ''),
            series={f: _pairs(fields[f]) for f in FLAVOURS},
            after_driver=_pairs(fields.get('after-driver', '')),
            config=tuple(fields.get('config', '').split()),
            x86_64_config=tuple(fields.get('x86_64-config', '').split()),
            boot_args=tuple(fields.get('boot-args', '').split()),
            time_travel=fields.get('time-travel', 'no') == 'yes')
    except KeyError as err:
        raise ValueError(f'{directory / "BASE"}: no {err.args[0]} =') from None


def all_bases(top: Path) -> dict[str, Base]:
    root = top / 'kernel-patches'
    bases = [read_base(d) for d in sorted(root.iterdir())
             if (d / 'BASE').exists()]
    return {b.name: b for b in bases}


def tree_version(ksrc: Path) -> str:
    """'7.3' for a kernel tree whose Makefile says VERSION 7, PATCHLEVEL 3."""
    mk = (ksrc / 'Makefile').read_text(errors='replace')
    parts = [re.search(rf'^{k} = (\d+)', mk, re.M)
             for k in ('VERSION', 'PATCHLEVEL')]
    if not all(parts):
        raise ValueError(f'{ksrc}: not a Linux tree (no VERSION/PATCHLEVEL '
                         'in its Makefile)')
    return '.'.join(p.group(1) for p in parts if p)


def pick(top: Path, name: str | None, ksrc: Path | None) -> Base:
    """The base named, or the one a KSRC tree is, or the default."""
    bases = all_bases(top)
    known = ', '.join(sorted(bases))
    if ksrc is not None:
        if not (ksrc / 'Makefile').is_file():
            raise ValueError(f'no kernel tree at {ksrc} (KSRC= names a '
                             'Linux git tree)')
        if not (ksrc / '.git').exists():
            raise ValueError(f'{ksrc} is not a git tree: the series are '
                             'applied in a git worktree of it')
        version = tree_version(ksrc)
        match = [b for b in bases.values() if b.kernel_series == version]
        if not match:
            raise ValueError(f'{ksrc} is Linux {version}; oomgpu has series '
                             f'for {known} only')
        if name and name != match[0].name:
            raise ValueError(f'{ksrc} is Linux {version}, not BASE={name}')
        return match[0]
    name = name or DEFAULT_BASE
    if name not in bases:
        raise ValueError(f'no base {name!r}; bases: {known}')
    return bases[name]
