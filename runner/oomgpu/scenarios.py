"""The scenario catalogue (tests/scenarios.toml) as typed records."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .platforms import PLATFORMS

EXPECTATIONS = ('pass', 'program', 'splat')
# What a scenario may run on (platforms.py)
PLATFORM_NAMES = tuple(PLATFORMS)
# emugpu's notifier_policy values (driver/emugpu_drv.c)
POLICIES = ('precise', 'nocancel', 'xe', 'xe-kick', 'pin')
# What each does with a non-blockable invalidation, for summaries
POLICY_SUMMARIES = {
    'precise': 'refuses the job\'s pages, cancels the job',
    'nocancel': 'refuses the job\'s pages, no cancel',
    'xe': 'refuses every user pointer (xe, amdgpu)',
    'xe-kick': 'as xe, cancels the victim\'s job first',
    'pin': 'pins, always agrees (i915)',
}


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
    # make bench: at most this many boots of it (0: as many as asked)
    trials: int = 0
    # Where it runs, of the platforms the base has (platforms.py)
    platforms: tuple[str, ...] = ('uml',)
    # (experiment flavour, cases of the program that must fail there):
    # make test boots it on that kernel too (kernel-patches/<base>/
    # experiments/), on the measured platforms it runs on
    must_fail_on: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Where `make test` boots it (of its platforms; empty: `make check`
    # only): on the patched flavour, on baseline too if it reproduces, and
    # on the experiments of must_fail_on
    test: tuple[str, ...] = ()

    def must_fail(self, flavour: str) -> tuple[str, ...]:
        """The cases that must fail on @flavour (none: a real flavour)."""
        return dict(self.must_fail_on).get(flavour, ())

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


def _policy_variants(path: Path, name: str,
                     entry: dict) -> list[tuple[str, str, bool]]:
    """(scenario name, policy, reproduces) for each scenario of @entry: one
    per policy of "policies" (named NAME-POLICY, "reproduces" listing the
    policies that reproduce the bug), or the entry itself."""
    if 'policies' not in entry:
        policy = entry.get('policy', 'precise')
        if policy not in POLICIES:
            raise ValueError(f'{path}: [{name}] policy={policy!r}')
        return [(name, policy, bool(entry.get('reproduces', False)))]
    if 'policy' in entry or not isinstance(entry.get('reproduces', []),
                                           list):
        raise ValueError(f'{path}: [{name}] with policies takes no policy '
                         'and a list of reproducing policies')
    policies = list(entry['policies'])
    reproduces = list(entry.get('reproduces', []))
    unknown = [p for p in policies + reproduces if p not in POLICIES] + \
        [p for p in reproduces if p not in policies]
    if unknown or not policies:
        raise ValueError(f'{path}: [{name}] policies {unknown or "empty"}')
    return [(f'{name}-{p}', p, p in reproduces) for p in policies]


def _test_platforms(path: Path, name: str, entry: dict, policy: str,
                    reproduces: bool) -> tuple[str, ...]:
    """"test": the platforms `make test` boots the scenario on; in an
    entry with "policies", only for those of "test_policies" (default: the
    reproducing ones)."""
    test = tuple(entry.get('test', ()))
    platforms = tuple(entry.get('platforms', ['uml']))
    if set(test) - set(platforms):
        raise ValueError(f'{path}: [{name}] test={list(test)} names a '
                         f'platform not in platforms={list(platforms)}')
    if 'policies' in entry:
        chosen = entry.get('test_policies', entry.get('reproduces', []))
        if set(chosen) - set(entry['policies']):
            raise ValueError(f'{path}: [{name}] test_policies={chosen}')
        if policy not in chosen:
            return ()
    return test


def _must_fail_on(path: Path, name: str, entry: dict
                  ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """[NAME.must_fail_on]: experiment = ["case", ...]."""
    table = entry.get('must_fail_on', {})
    if not isinstance(table, dict) or not all(
            isinstance(cases, list) and cases and
            all(isinstance(c, str) for c in cases)
            for cases in table.values()):
        raise ValueError(f'{path}: [{name}.must_fail_on] takes '
                         'experiment = ["case", ...]')
    return tuple((exp, tuple(cases)) for exp, cases in table.items())


def load_catalogue(path: Path) -> Catalogue:
    data = tomllib.loads(path.read_text())
    cat = Catalogue()
    for name, entry in data.items():
        expect = entry.get('expect', 'pass')
        if expect not in EXPECTATIONS:
            raise ValueError(f'{path}: [{name}] expect={expect!r}')
        platforms = tuple(entry.get('platforms', ['uml']))
        if not platforms or set(platforms) - set(PLATFORM_NAMES):
            raise ValueError(f'{path}: [{name}] platforms={list(platforms)}'
                             f'; known: {", ".join(PLATFORM_NAMES)}')
        variants = _policy_variants(path, name, entry)
        for scenario, policy, reproduces in variants:
            summary = entry['summary']
            script = entry.get('script', '')
            if 'policies' in entry:
                summary = f'{summary}; {policy}: {POLICY_SUMMARIES[policy]}'
                script = script or name
            cat.scenarios[scenario] = Scenario(
                name=scenario, summary=summary,
                groups=tuple(entry['groups']), mem=entry['mem'],
                timeout=float(entry['timeout']),
                time_travel=bool(entry['time_travel']),
                cmdline=tuple(entry.get('cmdline', ())), expect=expect,
                oom_victim=entry.get('oom_victim', ''),
                reproduces=reproduces, script=script, policy=policy,
                trials=int(entry.get('trials', 0)), platforms=platforms,
                must_fail_on=_must_fail_on(path, name, entry),
                test=_test_platforms(path, name, entry, policy, reproduces))
    return cat
