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
# The flavour without the OOM series, where reproducing scenarios must fail.
BASELINE = 'baseline'


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

    @property
    def label(self) -> str:
        return f'{self.scenario.name}@{self.flavour}'

    def results(self) -> list[TestResult]:
        """The program's own results, all documents in order."""
        out: list[TestResult] = []
        for doc in self.documents:
            out.extend(doc.tests)
        for i, res in enumerate(out, start=1):
            res.number = i
        return out


def judge(scenario: Scenario, flavour: str, boot: Boot,
          log_path: Path) -> Outcome:
    docs = parse_log(boot.console)
    out = Outcome(scenario, flavour, log_path, boot, docs,
                  find_splats(boot.console), parse_oom(boot.console))
    _oom_facts(out)
    program_problems = _program_problems(out)
    splat_problems = [f'kernel splat ({s.kind}): {s.line}' for s in out.splats]
    reproducing = scenario.reproduces and flavour == BASELINE

    if reproducing:
        # The bug must show: some test of the program has to fail. A guest
        # that never ran its program proves nothing.
        failed = _failed_tests(out)
        if failed:
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
    out.status = Status.FAIL if out.problems else Status.PASS
    out.failures_expected = out.status == Status.PASS and (
        scenario.expect != 'pass' or reproducing)
    if boot.timed_out and not reproducing:
        out.status = Status.TIMEOUT
    return out


def _program_problems(out: Outcome) -> list[str]:
    boot = out.boot
    if boot.timed_out:
        return [f'timed out after {out.scenario.timeout:.0f} s']
    problems = []
    if boot.init_exit is None:
        problems.append('the guest never finished its scenario '
                        f'(host exit status {boot.exit_status})')
    elif boot.init_exit != 0:
        problems.append(f'scenario exited {boot.init_exit}')
    if not out.documents:
        problems.append('no KTAP output')
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
