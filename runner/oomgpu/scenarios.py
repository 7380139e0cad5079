"""The scenario catalogue (tests/scenarios.toml) as typed records."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

EXPECTATIONS = ('pass', 'program', 'splat')
# emugpu's notifier_policy values (driver/emugpu_drv.c)
POLICIES = ('precise', 'nocancel', 'xe')


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    groups: tuple[str, ...]
    mem: str
    timeout: float
    time_travel: bool
    cmdline: tuple[str, ...] = ()
    expect: str = 'pass'
    oom_victim: str = ''
    # The scenario shows the bug: on the baseline flavour it must fail.
    reproduces: bool = False
    script: str = ''
    # How emugpu's notifier answers the OOM reaper
    policy: str = 'precise'

    def kernel_args(self, base_args: tuple[str, ...] = (),
                    time_travel_ok: bool = True) -> list[str]:
        """The UML command line: the scenario, its own arguments, the
        base's (7.3: SMP), and time-travel where the scenario allows it
        and the base has it (it needs a UP kernel)."""
        args = [f'oomgpu.scenario={self.script or self.name}',
                f'emugpu.notifier_policy={self.policy}', *self.cmdline,
                *base_args]
        if self.time_travel and time_travel_ok:
            args.append('time-travel=inf-cpu')
        return args


@dataclass
class Catalogue:
    scenarios: dict[str, Scenario] = field(default_factory=dict)

    def select(self, patterns: list[str], groups: list[str]) -> list[Scenario]:
        """Scenarios matching any glob in @patterns, else any of @groups."""
        if patterns:
            picked = [s for s in self.scenarios.values()
                      if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
            unknown = [p for p in patterns if not any(
                fnmatch.fnmatchcase(n, p) for n in self.scenarios)]
            if unknown:
                raise ValueError(f'no scenario matches {", ".join(unknown)}; '
                                 f'known: {", ".join(self.scenarios)}')
            return picked
        return [s for s in self.scenarios.values()
                if set(groups) & set(s.groups)]


def load_catalogue(path: Path) -> Catalogue:
    data = tomllib.loads(path.read_text())
    cat = Catalogue()
    for name, entry in data.items():
        expect = entry.get('expect', 'pass')
        if expect not in EXPECTATIONS:
            raise ValueError(f'{path}: [{name}] expect={expect!r}')
        policy = entry.get('policy', 'precise')
        if policy not in POLICIES:
            raise ValueError(f'{path}: [{name}] policy={policy!r}')
        cat.scenarios[name] = Scenario(
            name=name, summary=entry['summary'],
            groups=tuple(entry['groups']), mem=entry['mem'],
            timeout=float(entry['timeout']),
            time_travel=bool(entry['time_travel']),
            cmdline=tuple(entry.get('cmdline', ())), expect=expect,
            oom_victim=entry.get('oom_victim', ''),
            reproduces=bool(entry.get('reproduces', False)),
            script=entry.get('script', ''), policy=policy)
    return cat
