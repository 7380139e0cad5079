"""Reports of a run: top-level KTAP, JUnit XML, JSON and a summary table."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from .judge import BASELINE, Outcome, Reaping
from .ktap import Status, TestResult, format_result


def scenario_result(number: int, out: Outcome) -> TestResult:
    """One scenario boot as a KTAP result whose subtests are its program's."""
    diags = [f'log: {out.log_path}']
    diags += out.problems
    if out.note and not out.problems:
        diags.append(out.note)
    # A copy: marking expected failures must not change what JSON reports.
    subtests = copy.deepcopy(out.results())
    if out.failures_expected:
        # Passed by failing: mark the failures as expected, and their
        # parents too, so a KTAP reader does not count them.
        for result in subtests:
            _expect_failures(result, out.note.split(':', 1)[0])
    return TestResult(number, out.label, out.status, '', diags, subtests)


def _expect_failures(result: TestResult, why: str) -> None:
    for sub in result.subtests:
        _expect_failures(sub, why)
    if not result.status.ok:
        result.status = Status.XFAIL
        result.directive = f'XFAIL {why}'


def ktap(outcomes: list[Outcome]) -> str:
    lines = ['KTAP version 1', f'1..{len(outcomes)}']
    for i, out in enumerate(outcomes, start=1):
        lines.extend(format_result(scenario_result(i, out)))
    return '\n'.join(lines) + '\n'


def junit(outcomes: list[Outcome]) -> str:
    suites = ET.Element('testsuites', name='oomgpu')
    by_flavour: dict[str, list[Outcome]] = {}
    for out in outcomes:
        name = f'{out.base}/{out.kernel}' if out.base else out.kernel
        by_flavour.setdefault(name, []).append(out)
    for flavour, outs in by_flavour.items():
        failures = sum(not o.status.ok for o in outs)
        suite = ET.SubElement(suites, 'testsuite', name=flavour,
                              tests=str(len(outs)), failures=str(failures))
        for out in outs:
            case = ET.SubElement(suite, 'testcase', classname=flavour,
                                 name=out.scenario.name,
                                 time=f'{out.boot.wall_seconds:.3f}')
            if not out.status.ok:
                fail = ET.SubElement(case, 'failure',
                                     message='; '.join(out.problems))
                fail.text = f'log: {out.log_path}'
            out_el = ET.SubElement(case, 'system-out')
            out_el.text = ''.join(out.boot.console[-200:])
    ET.indent(suites)
    return ET.tostring(suites, encoding='unicode') + '\n'


def outcome_json(out: Outcome) -> dict[str, Any]:
    victim = out.victim
    return {
        'scenario': out.scenario.name,
        'base': out.base,
        'platform': out.platform,
        'flavour': out.flavour,
        'status': out.status.value,
        'problems': out.problems,
        'note': out.note,
        'failures_expected': out.failures_expected,
        'log': str(out.log_path),
        'wall_seconds': round(out.boot.wall_seconds, 3),
        'host_exit_status': out.boot.exit_status,
        'scenario_exit': out.boot.init_exit,
        'tests': {
            'passed': sum(1 for r in out.results() for leaf in r.leaves()
                          if leaf.status == Status.PASS),
            'failed': sum(1 for r in out.results() for leaf in r.leaves()
                          if not leaf.status.ok),
            'skipped': sum(1 for r in out.results() for leaf in r.leaves()
                           if leaf.status == Status.SKIP),
        },
        'splats': [{'kind': s.kind, 'time': s.time, 'line': s.line}
                   for s in out.splats],
        'metrics': out.metrics,
        'reaping': _reaping_json(out),
        'oom': None if victim is None else {
            'victim_pid': victim.pid,
            'victim_comm': victim.comm,
            'anon_rss_at_kill_kb': victim.anon_rss_kb,
            'reaped_kb': victim.reaped_kb,
            'time_to_reap_s': victim.time_to_reap,
            'reap_failed': victim.reap_failed,
            'collateral_kills': [{'pid': k.pid, 'comm': k.comm}
                                 for k in out.collateral],
            'rss_timeline_kb': victim.rss_timeline(),
        },
    }


def _reaping_json(out: Outcome) -> dict[str, Any] | None:
    r = out.reaping()
    if r is None:
        return None
    return {'anon_at_kill_kb': r.anon_at_kill_kb, 'reaped_kb': r.reaped_kb,
            'busy_kb': r.busy_kb, 'non_busy_kb': r.non_busy_kb,
            'share_of_non_busy': r.share, 'seconds_to_first_pass': r.seconds,
            'seconds_to_give_up': r.gave_up}


def summary_json(outcomes: list[Outcome]) -> str:
    passed, failed, skipped = counts(outcomes)
    return json.dumps({'passed': passed, 'failed': failed,
                       'skipped': skipped,
                       'scenarios': [outcome_json(o) for o in outcomes]},
                      indent=2) + '\n'


def counts(outcomes: list[Outcome]) -> tuple[int, int, int]:
    passed = sum(o.status == Status.PASS for o in outcomes)
    skipped = sum(o.status == Status.SKIP for o in outcomes)
    return passed, len(outcomes) - passed - skipped, skipped


def failures(outcomes: list[Outcome]) -> list[str]:
    """One line per outcome that failed: its label, why, and its log."""
    return [f'{o.label}: {"; ".join(o.problems) or o.status.value} '
            f'(log: {o.log_path})'
            for o in outcomes if o.status not in (Status.PASS, Status.SKIP)]


def _fmt(value: Any, unit: str = '') -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.2f}{unit}'
    return f'{value}{unit}'


def reproduces_on_baseline(out: Outcome, outcomes: list[Outcome]) -> str:
    """For a scenario that claims to show the bug: did baseline fail it?"""
    if not out.scenario.reproduces:
        return '-'
    base = [o for o in outcomes if o.scenario.name == out.scenario.name
            and o.flavour == BASELINE and o.base == out.base
            and o.platform == out.platform]
    if not base:
        return 'not run'
    return 'yes' if base[0].status.ok and base[0].failures_expected \
        else 'no'


def reaping_cells(r: Reaping | None) -> tuple[str, str, str]:
    """(reaped kB, % of the memory no job used, seconds) in words (the
    table's cells are table_cells())."""
    if r is None:
        return '-', '-', '-'
    if r.reaped_kb is None:
        return 'exited first', '-', '-'
    share = '-' if r.share is None else f'{r.share:.1%}'
    if r.seconds is None and r.gave_up is not None:
        return f'{r.reaped_kb} kB', share, f'gave up {r.gave_up:.2f} s'
    return f'{r.reaped_kb} kB', share, _fmt(r.seconds, ' s')


# The flavours that share a row of the table, side by side.
PATCHED = 'patched'
PAIRED = (BASELINE, PATCHED)


def table_cells(r: Reaping | None) -> tuple[str, str]:
    """(reaped, kill->reap) for the table: what the first pass took back,
    as a share of the memory no job was using (kB if the program reports
    no jobs), or `gave up` (the reaper did, and the time is until then) or
    `exited` (the victim did, before the first pass)."""
    if r is None:
        return '-', '-'
    if r.reaped_kb is None:
        return 'exited', '-'
    share = r.share
    if r.seconds is None and r.gave_up is not None:
        return 'gave up', _fmt(r.gave_up, ' s')
    reaped = f'{r.reaped_kb} kB' if share is None else f'{share:.1%}'
    return reaped, _fmt(r.seconds, ' s')


def _side(out: Outcome | None) -> tuple[str, str, str, str]:
    """(reaped, kill->reap, collateral, verdict) of one flavour's boot."""
    if out is None:
        return '-', '-', '-', '-'
    reaped, secs = table_cells(out.reaping())
    return (reaped, secs,
            str(len(out.collateral)) if out.victim else '-',
            out.status.value)


def _cancels(outs: list[Outcome]) -> str:
    """Jobs the driver cancelled: once if the flavours agree, else
    baseline/patched."""
    got = [out.metrics.get('oom_cancels') for out in outs]
    cells = ['-' if c is None else str(int(c)) for c in got]
    return cells[0] if len(set(cells)) == 1 else '/'.join(cells)


def table_rows(outcomes: list[Outcome]
               ) -> list[tuple[str, str, str, Outcome | None,
                               Outcome | None]]:
    """(scenario, base, platform, baseline, patched) per row of the table:
    a scenario's baseline and patched boots on one base and platform
    share a row. Any other flavour (an experiment: the series with a
    part left out) has a row of its own after them, named in the
    scenario cell, with its boot on the patched side."""
    groups: dict[tuple[str, str, str], int] = {}
    rows: dict[tuple[str, str, str, str], dict[str, Outcome]] = {}
    for out in outcomes:
        where = (out.scenario.name, out.base, out.platform)
        groups.setdefault(where, len(groups))
        extra = '' if out.flavour in PAIRED else out.flavour
        side = BASELINE if out.flavour == BASELINE else PATCHED
        rows.setdefault((*where, extra), {})[side] = out
    table = []
    for key in sorted(rows, key=lambda k: (groups[k[:3]], k[3] != '')):
        name, base, platform, extra = key
        table.append((f'{name} ({extra})' if extra else name, base,
                      platform, rows[key].get(BASELINE),
                      rows[key].get(PATCHED)))
    return table


def _render(head: list[tuple[str, str]], rows: list[tuple[str, ...]]
            ) -> list[str]:
    """Columns under a header of two lines, (group, name) per column: a
    group's columns sit one space apart under the group's name, the
    others two."""
    names = tuple(name for _, name in head)
    widths = [max(len(r[i]) for r in (names, *rows))
              for i in range(len(head))]
    spans: list[list[int]] = []   # the columns of each group
    for i, (group, _) in enumerate(head):
        if group and i and head[i - 1][0] == group:
            spans[-1].append(i)
        elif group:
            spans.append([i])
    seps = [''] + ['  '] * (len(head) - 1)
    for span in spans:
        for i in span[1:]:
            seps[i] = ' '
        room = sum(widths[i] for i in span) + len(span) - 1
        widths[span[-1]] += max(len(head[span[0]][0]) - room, 0)

    def line(cells: tuple[str, ...]) -> str:
        return ''.join(s + c.ljust(w)
                       for s, c, w in zip(seps, cells, widths)).rstrip()

    top = ''
    for span in spans:
        col = sum(widths[:span[0]]) + sum(len(s) for s in seps[:span[0] + 1])
        top = top.ljust(col) + head[span[0]][0]
    return [top, line(names), line(tuple('-' * w for w in widths)),
            *(line(r) for r in rows)]


def table(outcomes: list[Outcome]) -> str:
    """The OOM table: a row per scenario, base and platform with baseline
    and patched side by side (an experiment flavour in a row of its own);
    the base only if there are several."""
    several = len({o.base for o in outcomes}) > 1
    head = [('', 'scenario'), *([('', 'base')] if several else []),
            ('', 'platform')]
    for group in ('reaped 1st pass', 'kill->reap', 'collateral'):
        head += [(group, BASELINE), (group, PATCHED)]
    head += [('', 'cancels'), ('verdict', BASELINE), ('verdict', PATCHED),
             ('', 'reproduces')]
    rows = []
    for name, base, platform, old, new in table_rows(outcomes):
        outs = [o for o in (old, new) if o is not None]
        before, after = _side(old), _side(new)
        experiment = new is not None and new.flavour not in PAIRED
        rows.append((
            name, *([base or '-'] if several else []), platform,
            *(cell for i in range(3) for cell in (before[i], after[i])),
            _cancels(outs), before[3], after[3],
            '-' if experiment else reproduces_on_baseline(outs[0],
                                                          outcomes)))
    return '\n'.join(_render(head, rows)) + '\n'


KSELFTEST_GROUP = 'kselftest'


def _case_result(case: TestResult) -> str:
    """pass, fail or skip (the parser's Status.SKIP: `# SKIP why`)."""
    if case.status is Status.SKIP:
        return 'skip'
    return 'pass' if case.status.ok else 'fail'


def selftest_cases(out: Outcome) -> dict[str, TestResult]:
    """The innermost cases of every KTAP document the selftest printed,
    by name."""
    return {case.name: case for doc in out.documents for top in doc.tests
            for case in top.leaves()}


def _counts(cases: dict[str, TestResult]) -> str:
    got = [_case_result(c) for c in cases.values()]
    return ', '.join(f'{got.count(k)} {k}' for k in ('pass', 'fail', 'skip'))


def _pair_cases(old: list[str], new: list[str]
                ) -> list[tuple[str | None, str | None]]:
    """Each case of @old with the same case of @new: by name, else by name
    with its numbers left out (mrelease_test names its case after the
    size it allocated, 1MB in one boot and 2MB in the next); None where a
    side has no such case."""
    def shape(name: str) -> str:
        return re.sub(r'\d+', 'N', name)

    pairs: list[tuple[str | None, str | None]] = []
    left = [n for n in new if n not in old]
    for name in old:
        if name in new:
            pairs.append((name, name))
            continue
        match = next((n for n in left if shape(n) == shape(name)), None)
        if match is not None:
            left.remove(match)
        pairs.append((name, match))
    return pairs + [(None, n) for n in left]


def selftest_rows(outcomes: list[Outcome]) -> list[tuple[str, ...]]:
    """One row per kselftest scenario, base and platform: each flavour's
    pass / fail / skip counts and the cases whose result differs between
    baseline and patched. For a scenario that reproduces the bug (the
    series' own cases) a difference is the point; for the kernel's other
    selftests it is a regression."""
    picked = [o for o in outcomes if KSELFTEST_GROUP in o.scenario.groups]
    keys = list(dict.fromkeys((o.scenario.name, o.base, o.platform)
                              for o in picked))
    rows = []
    for name, base, platform in keys:
        mine = {o.flavour: o for o in picked if (o.scenario.name, o.base,
                                                 o.platform) ==
                (name, base, platform)}
        cases = {f: selftest_cases(o) for f, o in mine.items()}
        cells = [_counts(cases[f]) if f in cases else '-'
                 for f in (BASELINE, 'patched')]
        differ = '-'
        if BASELINE in cases and 'patched' in cases:
            old, new = cases[BASELINE], cases['patched']
            changed = []
            for was, now in _pair_cases(list(old), list(new)):
                before = _case_result(old[was]) if was else 'absent'
                after = _case_result(new[now]) if now else 'absent'
                if before != after:
                    changed.append(f'{now or was} ({before} -> {after})')
            scenario = mine['patched'].scenario
            differ = '; '.join(changed) or 'none'
            if changed:
                differ += (' (expected: the bug)' if scenario.reproduces
                           else ' (a regression)')
        verdicts = '/'.join(mine[f].status.value for f in (BASELINE, 'patched')
                            if f in mine)
        rows.append((name, base or '-', platform, *cells, differ, verdicts))
    return rows


def _skip_reasons(outcomes: list[Outcome]) -> list[str]:
    """Why cases skipped, with how many (every flavour and platform)."""
    reasons: dict[tuple[str, str], int] = {}
    for out in outcomes:
        if KSELFTEST_GROUP not in out.scenario.groups:
            continue
        for case in selftest_cases(out).values():
            if _case_result(case) == 'skip':
                why = case.directive[4:].strip() or 'no reason given'
                key = (f'{out.scenario.name}@{out.base}/{out.kernel}', why)
                reasons[key] = reasons.get(key, 0) + 1
    return [f'- {where}: {count} x "{why}"'
            for (where, why), count in reasons.items()]


def selftest_markdown(outcomes: list[Outcome]) -> list[str]:
    """docs/results.md's section on the kernel selftests per flavour."""
    rows = selftest_rows(outcomes)
    if not rows:
        return []
    head = ('selftest', 'base', 'platform', 'baseline', 'patched',
            'cases that differ (baseline -> patched)', 'verdict')
    lines = ['## Kernel selftests per flavour', '',
             'Each case as the selftest reported it (kselftest harness '
             'TAP); `make run` boots every kselftest scenario on both '
             'flavours. A case whose result differs between the flavours is '
             'a regression, except in the series\' own cases, which must '
             'fail on baseline (the bug).', '',
             '| ' + ' | '.join(head) + ' |',
             '|' + ' --- |' * len(head)]
    lines += ['| ' + ' | '.join(r) + ' |' for r in rows]
    skips = _skip_reasons(outcomes)
    if skips:
        lines += ['', 'Skipped cases, and why:', '', *skips]
    return lines + ['']


def markdown(outcomes: list[Outcome], command: str, plot: str | None,
             when: str) -> str:
    """docs/results.md: the table, the plot, and how they were made."""
    lines = [
        '# Results', '',
        f'Produced by `{command}` on {when}: a row per scenario and '
        'platform, with baseline and patched side by side (guest times '
        'from the kernel log). `reaped 1st pass` is what the reaper\'s '
        'first pass took back of the victim\'s anon-rss at the kill (for '
        'process_mrelease: RssAnon before minus after), as a share of the '
        'memory no device job was using, or in kB where the program reports '
        'no jobs; `gave up`: the reaper gave up, and `kill->reap` is the '
        'time until it did; `exited`: the victim exited before the first '
        'pass. `collateral`: other processes the OOM killer killed; '
        '`cancels`: jobs the driver cancelled (baseline/patched where they '
        'differ); `reproduces`: for a scenario that claims to show the bug, '
        'whether baseline fails it. A scenario with a kernel in parentheses '
        'is an experiment (the series with a part left out), in the patched '
        'columns. `summary.json` has every number (anon-rss at the kill, kB '
        'reaped).', '',
        '```', table(outcomes).rstrip(), '```', '']
    if plot:
        lines += [f'![anon-rss of the victim after the kill]({plot})', '']
    lines += selftest_markdown(outcomes)
    lines += ['Per-scenario logs, KTAP, JUnit and JSON are in the run\'s '
              '`results/<timestamp>/` directory.', '']
    return '\n'.join(lines)


def write_all(outcomes: list[Outcome], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'results.ktap').write_text(ktap(outcomes))
    (directory / 'junit.xml').write_text(junit(outcomes))
    (directory / 'summary.json').write_text(summary_json(outcomes))
    (directory / 'table.txt').write_text(table(outcomes))
