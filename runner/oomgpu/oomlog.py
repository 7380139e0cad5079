"""Reads OOM kills and reaper reports out of a console log.

The metrics every OOM scenario reports come from three kernel messages:

  Out of memory: Killed process 91 (hog) total-vm:..kB, anon-rss:262144kB, ...
  oom_reaper: reaped process 91 (hog), now anon-rss:0kB, file-rss:0kB, ...
  oom_reaper: unable to reap pid:91 (hog)

and, with the OOM series, a pass that reaped around busy memory and the
reaper giving up on it:

  oom_reaper: could not reap 64kB of process 91 (victim), busy in mmu
      notifier emugpu_userptr_invalidate, now anon-rss:64kB, ...
  oom_reaper: unable to reap pid:91 (victim), 64kB busy in mmu notifier ...

("Memory cgroup out of memory: Killed process ..." for a memcg OOM.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

_STAMP = r'^\[\s*(?P<time>\d+\.\d+)\] ?'
_KILLED = re.compile(_STAMP + r'(?P<memcg>Memory cgroup out of memory: )?'
                     r'(?:Out of memory: )?Killed process (?P<pid>\d+) '
                     r'\((?P<comm>[^)]*)\).*?anon-rss:(?P<anon>\d+)kB')
_REAPED = re.compile(_STAMP + r'oom_reaper: reaped process (?P<pid>\d+) '
                     r'\((?P<comm>[^)]*)\), now anon-rss:(?P<anon>\d+)kB')
_PARTIAL = re.compile(_STAMP + r'oom_reaper: could not reap (?P<busy>\d+)kB of '
                      r'process (?P<pid>\d+) \((?P<comm>[^)]*)\), busy in mmu '
                      r'notifier (?P<who>\S+), now anon-rss:(?P<anon>\d+)kB')
_UNABLE = re.compile(_STAMP + r'oom_reaper: unable to reap pid:(?P<pid>\d+)')
# Written to /dev/kmsg by the scenario program when it has reaped (wait(2))
# the victim, so the kernel's clock says when the memory was all back.
_GONE = re.compile(_STAMP + r'oomgpu: victim (?P<pid>\d+) gone')


@dataclass
class OomKill:
    pid: int
    comm: str
    time: float
    anon_rss_kb: int
    memcg: bool
    reaped_at: float | None = None
    anon_rss_after_reap_kb: int | None = None
    reap_failed: bool = False
    # The reaper's passes that left parts busy (oom-reap series), in order:
    # (guest time, busy kB, anon-rss kB after the pass).
    partial_reaps: list[tuple[float, int, int]] = field(default_factory=list)
    unable_at: float | None = None
    gone_at: float | None = None
    # The refusing notifier the reaper named (the series), e.g.
    # emugpu_userptr_invalidate
    busy_notifier: str = ''

    def reports(self) -> list[tuple[float, int]]:
        """(guest time, anon-rss kB after) of each reaper report, in order:
        the partial passes and the final one."""
        passes = [(t, anon) for t, _, anon in self.partial_reaps]
        if self.reaped_at is not None and \
                self.anon_rss_after_reap_kb is not None:
            passes.append((self.reaped_at, self.anon_rss_after_reap_kb))
        return sorted(passes)

    def first_pass(self) -> tuple[float, int] | None:
        """(guest time, anon-rss kB after) of the reaper's first report."""
        passes = self.reports()
        return passes[0] if passes else None

    def rss_timeline(self) -> list[tuple[float, int]]:
        """(seconds after the kill, victim anon-rss kB) at each event the
        kernel log shows: the kill, each reaper report, the reaper giving
        up, and the victim gone (0)."""
        points = [(0.0, self.anon_rss_kb)]
        last = self.anon_rss_kb
        for t, anon in self.reports():
            points.append((t - self.time, anon))
            last = anon
        if self.unable_at is not None:
            points.append((self.unable_at - self.time, last))
        if self.gone_at is not None:
            points.append((self.gone_at - self.time, 0))
        return sorted(points)

    @property
    def reaped_kb(self) -> int | None:
        """Anonymous memory the reaper took back, if it reported."""
        if self.anon_rss_after_reap_kb is None:
            return None
        return self.anon_rss_kb - self.anon_rss_after_reap_kb

    @property
    def time_to_reap(self) -> float | None:
        """Guest seconds from the kill to the reaper's report."""
        if self.reaped_at is None:
            return None
        return self.reaped_at - self.time


@dataclass
class OomLog:
    kills: list[OomKill] = field(default_factory=list)

    def victim(self, pid: int) -> OomKill | None:
        return next((k for k in self.kills if k.pid == pid), None)

    def others(self, pid: int) -> list[OomKill]:
        """Kills of anything but @pid: the collateral damage."""
        return [k for k in self.kills if k.pid != pid]


def parse_oom(lines: Iterable[str]) -> OomLog:
    log = OomLog()
    for raw in lines:
        line = raw.rstrip('\r\n')
        m = _KILLED.match(line)
        if m:
            log.kills.append(OomKill(int(m['pid']), m['comm'],
                                     float(m['time']), int(m['anon']),
                                     bool(m['memcg'])))
            continue
        m = _PARTIAL.match(line)
        if m:
            kill = _latest(log, int(m['pid']))
            if kill:
                kill.partial_reaps.append((float(m['time']), int(m['busy']),
                                           int(m['anon'])))
                kill.busy_notifier = m['who']
            continue
        m = _REAPED.match(line)
        if m:
            kill = _latest(log, int(m['pid']))
            if kill:
                kill.reaped_at = float(m['time'])
                kill.anon_rss_after_reap_kb = int(m['anon'])
            continue
        m = _UNABLE.match(line)
        if m:
            kill = _latest(log, int(m['pid']))
            if kill:
                kill.reap_failed = True
                kill.unable_at = float(m['time'])
            continue
        m = _GONE.match(line)
        if m:
            kill = _latest(log, int(m['pid']))
            if kill:
                kill.gone_at = float(m['time'])
    return log


def _latest(log: OomLog, pid: int) -> OomKill | None:
    for kill in reversed(log.kills):
        if kill.pid == pid:
            return kill
    return None
