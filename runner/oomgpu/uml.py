"""Boots one UML guest headless and collects its console and exit status
(run_guest() serves QEMU too: qemu.py)."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

# What /init prints last; without it the guest died before finishing.
INIT_EXIT_MARK = 'oomgpu-init: exit '
# What /init prints first: the kernel reached userspace.
INIT_START_MARK = 'oomgpu-init: running '


@dataclass
class Boot:
    exit_status: int | None      # host status of the UML process; None: timed out
    timed_out: bool
    wall_seconds: float
    console: list[str]
    init_exit: int | None        # the scenario's status as /init reported it
    # run_guest(start_within=): the kernel never reached /init in time
    stalled: bool = False
    # what the runner did about a stalled boot (qemu.py), for the report
    note: str = ''


def boot(linux: Path, initramfs: Path, mem: str, args: list[str],
         timeout: float, log_path: Path, echo: TextIO | None = None) -> Boot:
    """Runs the guest to completion or until @timeout host seconds passed.

    The console goes to @log_path (and to @echo as it comes, if given). On
    timeout the whole process group is killed: UML forks a host process per
    guest address space, and a stray one would hold the memory file open.
    """
    with tempfile.TemporaryDirectory(prefix='oomgpu-uml-') as uml_dir:
        cmd = [str(linux), f'mem={mem}', f'initrd={initramfs}',
               'con=null', 'con0=null,fd:1', 'ssl=null',
               f'uml_dir={uml_dir}', 'panic=-1', *args]
        return run_guest(cmd, dict(os.environ, TMPDIR=uml_dir), timeout,
                         log_path, echo)


def run_guest(cmd: list[str], env: dict[str, str] | None, timeout: float,
              log_path: Path, echo: TextIO | None = None,
              start_within: float | None = None) -> Boot:
    """Runs the guest command @cmd (a UML binary or QEMU) in a process
    group of its own, its console on its stdout, until it exits or
    @timeout host seconds passed; with @start_within, also stops it if
    /init has not started the scenario by then (Boot.stalled)."""
    start = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, 'w', errors='replace') as log:
        log.write('# ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)
        lines, timed_out, stalled = _collect(
            proc, log, echo, start + timeout,
            None if start_within is None else start + start_within)
    wall = time.monotonic() - start
    return Boot(None if timed_out else proc.returncode, timed_out, wall,
                lines, scenario_exit(lines), stalled)


def scenario_exit(lines: list[str]) -> int | None:
    """The status /init reported for the scenario, if it got that far."""
    status = None
    for line in lines:
        idx = line.find(INIT_EXIT_MARK)
        if idx >= 0:
            try:
                status = int(line[idx + len(INIT_EXIT_MARK):].split()[0])
            except (ValueError, IndexError):
                pass
    return status


def _collect(proc: subprocess.Popen[bytes], log: TextIO, echo: TextIO | None,
             deadline: float, start_by: float | None = None
             ) -> tuple[list[str], bool, bool]:
    assert proc.stdout is not None
    lines: list[str] = []
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    buf = b''
    timed_out = stalled = False
    started = start_by is None
    while True:
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            timed_out = True
            break
        if not started and now >= start_by:   # type: ignore[operator]
            stalled = True
            break
        if not sel.select(timeout=min(remaining, 1.0)):
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        *complete, buf = buf.split(b'\n')
        for raw in complete:
            line = raw.decode('utf-8', 'replace') + '\n'
            started = started or INIT_START_MARK in line
            lines.append(line)
            log.write(line)
            if echo:
                echo.write(line)
                echo.flush()
    if buf:
        lines.append(buf.decode('utf-8', 'replace') + '\n')
        log.write(lines[-1])
    kill_group(proc)
    if timed_out:
        log.write('# oomgpu: killed after timeout\n')
    if stalled:
        log.write('# oomgpu: killed: /init had not started the scenario\n')
    return lines, timed_out, stalled


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kills @proc's whole process group and reaps @proc."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
