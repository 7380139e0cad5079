"""Turns one guest boot into a verdict with its reasons."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .ktap import Document, Status, TestResult, parse_log
from .oomlog import OomKill, OomLog, parse_oom
from .scenarios import Scenario
from .splat import Splat, find_splats
from .uml import Boot

_VICTIM = re.compile(r'victim_pid=(\d+)')
# "# key=value" diagnostics: numbers a scenario program reports.
_METRIC = re.compile(r'^(\w+)=(-?\d+(?:\.\d+)?)$')
# A whole program skipped on purpose: "1..0 # SKIP reason"
_EMPTY_SKIP = re.compile(r"1\.\.0\s*#\s*SKIP", re.IGNORECASE)
# The flavour without the OOM series, where reproducing scenarios must fail.
BASELINE = 'baseline'
# With the series, the reaper's first pass must take back at least this
# share of the victim's anonymous memory that no device job was using.
FIRST_PASS_MIN = 0.99


@dataclass
class Reaping:
    anon_at_kill_kb: int
    reaped_kb: int | None          # None: the victim exited first
    busy_kb: float | None          # what the program says its jobs held
    seconds: float | None          # kill to the first reaper report
    gave_up: float | None = None   # kill to "unable to reap", if no report

    @classmethod
    def of_kill(cls, v: OomKill, busy: float | None) -> 'Reaping':
        """What the reaper's first pass took back of OOM victim @v."""
        first = v.first_pass()
        if first is None:
            # Nothing reported: the reaper gave up, or the victim's exit
            # freed its memory before the reaper's first pass.
            gave_up = None if v.unable_at is None else v.unable_at - v.time
            return cls(v.anon_rss_kb, 0 if v.reap_failed else None, busy,
                       None, gave_up)
        return cls(v.anon_rss_kb, v.anon_rss_kb - first[1], busy,
                   first[0] - v.time)

    @property
    def non_busy_kb(self) -> int | None:
        if self.busy_kb is None:
            return None
        return max(self.anon_at_kill_kb - int(self.busy_kb), 0)

    @property
    def share(self) -> float | None:
        """Reaped share of the memory no job was using."""
        if self.reaped_kb is None or not self.non_busy_kb:
            return None
        return min(self.reaped_kb / self.non_busy_kb, 1.0)


@dataclass
class Outcome:
    scenario: Scenario
    flavour: str
    log_path: Path
    boot: Boot
    documents: list[Document]
    splats: list[Splat]
    oom: OomLog
    victim: OomKill | None = None
    collateral: list[OomKill] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)   # why it failed
    status: Status = Status.PASS
    note: str = ''
    # The program's failures were the expected outcome (a self-check, or a
    # scenario reproducing the bug on baseline).
    failures_expected: bool = False
    # "# key=value" numbers from the program (busy_kb, oom_cancels, ...).
    metrics: dict[str, float] = field(default_factory=dict)
    # The kernel base (7.3, 6.12) the flavour was built on
    base: str = ''
    # What it was built for and booted on (platforms.py)
    platform: str = 'uml'

    def reaping(self) -> 'Reaping | None':
        """What came back of the victim's memory, by the reaper's first
        pass (OOM) or by process_mrelease(2)."""
        busy = self.metrics.get('busy_kb')
        if 'rss_before_kb' in self.metrics:
            before = int(self.metrics['rss_before_kb'])
            after = int(self.metrics.get('rss_after_kb', before))
            return Reaping(before, before - after, busy, None)
        if self.victim is None:
            return None
        return Reaping.of_kill(self.victim, busy)

    @property
    def kernel(self) -> str:
        """The flavour, with the platform unless it is UML: 'patched',
        'x86_64/patched'."""
        if self.platform == 'uml':
            return self.flavour
        return f'{self.platform}/{self.flavour}'

    @property
    def label(self) -> str:
        where = f'{self.base}/{self.kernel}' if self.base else self.kernel
        return f'{self.scenario.name}@{where}'

    def results(self) -> list[TestResult]:
        """The program's own results, all documents in order."""
        out: list[TestResult] = []
        for doc in self.documents:
            out.extend(doc.tests)
        for i, res in enumerate(out, start=1):
            res.number = i
        return out


def judge(scenario: Scenario, flavour: str, boot: Boot,
          log_path: Path, base: str = '', platform: str = 'uml') -> Outcome:
    docs = parse_log(boot.console)
    out = Outcome(scenario, flavour, log_path, boot, docs,
                  find_splats(boot.console), parse_oom(boot.console),
                  base=base, platform=platform)
    out.metrics = _metrics(docs)
    _oom_facts(out)
    program_problems = _program_problems(out)
    if flavour != BASELINE:
        program_problems += _reaping_problems(out)
    splat_problems = [f'kernel splat ({s.kind}): {s.line}' for s in out.splats]
    reproducing = scenario.reproduces and flavour == BASELINE
    must_fail = scenario.must_fail(flavour)

    if must_fail:
        # An experiment kernel (a part of the series left out): these
        # cases must fail, which shows that they can.
        failed = {t.name for t in _failed_tests(out)}
        out.problems = splat_problems + [
            f'{case} did not fail; it must on {flavour}'
            for case in must_fail if case not in failed]
        out.note = f'fails as it must on {flavour}: ' + ', '.join(must_fail)
    elif reproducing:
        # The bug must show: some test of the program has to fail. A guest
        # that never ran its program proves nothing, nor one killed before
        # it ended (its unfinished tests read as failed).
        failed = _failed_tests(out)
        if boot.timed_out:
            out.problems = ['does not reproduce on baseline: '
                            + '; '.join(program_problems)]
        elif failed:
            out.note = ('reproduces on baseline: ' +
                        ', '.join(t.name for t in failed[:8]))
        else:
            out.problems = ['does not reproduce on baseline: '
                            + ('; '.join(program_problems + splat_problems)
                               or 'every test passed')]
    elif scenario.expect == 'pass':
        out.problems = program_problems + splat_problems
    elif scenario.expect == 'program':
        out.problems = splat_problems
        if not program_problems:
            out.problems.append('expected the program to fail; it passed')
        out.note = 'failed as expected: ' + '; '.join(program_problems)
    elif scenario.expect == 'splat':
        out.problems = program_problems
        if not splat_problems:
            out.problems.append('expected a kernel splat; there was none')
        out.note = 'failed as expected: ' + '; '.join(splat_problems)
    if boot.note:
        out.note = '; '.join(filter(None, [out.note, boot.note]))
    out.status = Status.FAIL if out.problems else Status.PASS
    out.failures_expected = out.status == Status.PASS and (
        scenario.expect != 'pass' or reproducing or bool(must_fail))
    if boot.timed_out:
        out.status = Status.TIMEOUT
    return out


def _program_problems(out: Outcome) -> list[str]:
    boot = out.boot
    if boot.timed_out:
        return [f'timed out after {out.scenario.timeout:.0f} s']
    problems = []
    if boot.stalled:
        problems.append('the kernel did not start /init in time, twice')
    elif boot.init_exit is None:
        problems.append('the guest never finished its scenario '
                        f'(host exit status {boot.exit_status})')
    elif boot.init_exit != 0:
        problems.append(f'scenario exited {boot.init_exit}')
    if not out.documents:
        problems.append('no KTAP output')
    elif not any(d.tests for d in out.documents) and \
            not any(_EMPTY_SKIP.search(line) for line in boot.console):
        # A kselftest filter that matches no case prints 1..0 and passes.
        problems.append('ran no tests: an empty plan (1..0) without SKIP')
    failed = _failed_tests(out)
    if failed:
        names = ', '.join(f.name for f in failed[:5])
        problems.append(f'{len(failed)} test(s) failed: {names}')
    if out.scenario.oom_victim:
        problems.extend(_oom_problems(out))
    return problems


def _failed_tests(out: Outcome) -> list[TestResult]:
    return [leaf for doc in out.documents for t in doc.tests
            for leaf in t.leaves() if not leaf.status.ok]


def _victim_pid(out: Outcome) -> int | None:
    for doc in out.documents:
        for text in doc.diagnostics + [d for t in doc.tests
                                       for d in t.diagnostics]:
            m = _VICTIM.search(text)
            if m:
                return int(m.group(1))
    return None


def _metrics(docs: list[Document]) -> dict[str, float]:
    found: dict[str, float] = {}
    for doc in docs:
        for text in doc.diagnostics + [d for t in doc.tests
                                       for d in t.diagnostics]:
            m = _METRIC.match(text.strip())
            if m:
                found[m.group(1)] = float(m.group(2))
    return found


def _reaping_problems(out: Outcome) -> list[str]:
    """With the series: the first pass takes back what no job uses."""
    r = out.reaping()
    if r is None or r.busy_kb is None or r.reaped_kb is None:
        return []
    share = r.share
    if share is not None and share < FIRST_PASS_MIN:
        return [f'first pass reaped {r.reaped_kb} of {r.non_busy_kb} kB '
                f'not in use by the device ({share:.1%} < '
                f'{FIRST_PASS_MIN:.0%})']
    return []


def _oom_facts(out: Outcome) -> None:
    pid = _victim_pid(out)
    if pid is not None:
        out.victim = out.oom.victim(pid)
        out.collateral = out.oom.others(pid)


def _oom_problems(out: Outcome) -> list[str]:
    """Uses the facts _oom_facts() found."""
    pid = _victim_pid(out)
    if pid is None:
        return ['the program did not name its victim (# victim_pid=)']
    problems = []
    if out.victim is None:
        problems.append(f'no OOM kill of pid {pid} in the kernel log')
    if out.collateral:
        names = ', '.join(f'{k.comm}[{k.pid}]' for k in out.collateral)
        problems.append(f'collateral OOM kills: {names}')
    return problems
