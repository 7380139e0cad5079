"""Boots one x86_64 guest under Debian's qemu-system-x86_64, headless.

The kernel (bzImage) and the initramfs are UML's image: /init runs the
scenario, prints "oomgpu-init: exit N" (the status the runner judges, as
on UML; /proc/exitcode is UML's) and ends the guest with `reboot -f`,
which -no-reboot turns into QEMU's exit. A guest that dies before that
line is a failure with its log, as on UML.

TCG always works; KVM is used only when a probe boot of the same kernel
under KVM ran the `boot` scenario to its end (inside some virtual machines
KVM dies with an emulation error in the decompressor instead of falling
back). The probe runs once per kernel image and run.

The serial console carries both the kernel's messages and what user space
writes to /dev/console, and since Linux 6.13 the 8250 console is printed by
a kernel thread (nbcon): a long report (KASAN's, a WARNING) is printed while
the scenario goes on writing, and the two interleave within a line ("oomgpu-
init: exi[    8.301595]  vfs_write+0x1e2/0x11f0"). untangle() takes the
kernel's records out of user space's lines before anything is judged; the
log keeps what the serial port carried.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TextIO

from .kbuild import log
from .uml import Boot, run_guest, scenario_exit

QEMU = 'qemu-system-x86_64'
PROBE_TIMEOUT = 60.0
# Host seconds for a TCG guest to reach /init; it takes 5-10 s here.
START_WITHIN = 90.0

_accel: dict[Path, str] = {}
_accel_lock = threading.Lock()


def command(image: Path, initramfs: Path, mem: str, args: list[str],
            accel: str) -> list[str]:
    """The QEMU command line of one boot."""
    tcg = accel == 'tcg'
    return [QEMU, '-nodefaults', '-no-user-config',
            '-accel', 'tcg,thread=multi' if tcg else accel,
            '-cpu', 'max' if tcg else 'host', '-smp', '2', '-m', mem,
            '-kernel', str(image), '-initrd', str(initramfs),
            '-append', ' '.join(['console=ttyS0', 'panic=-1', *args]),
            '-no-reboot', '-nographic', '-serial', 'stdio',
            '-bios', 'qboot.rom']


def accel_for(image: Path, initramfs: Path, logs: Path) -> str:
    """'kvm' if a probe boot of @image under KVM finished its scenario,
    else 'tcg'. Decided once per image."""
    with _accel_lock:
        if image in _accel:
            return _accel[image]
        accel = 'tcg'
        if Path('/dev/kvm').exists():
            # .oomgpu-out-x86_64-<flavour>/arch/x86/boot/bzImage
            build = image.parents[3].name.removeprefix('.oomgpu-out-')
            probe = logs / f'kvm-probe.{build}.log'
            b = run_guest(command(image, initramfs, '256M',
                                  ['oomgpu.scenario=boot'], 'kvm'),
                          None, PROBE_TIMEOUT, probe)
            if b.init_exit == 0:
                accel = 'kvm'
            else:
                log(f'x86_64: the KVM probe boot did not finish (log: '
                    f'{probe}); using TCG')
        _accel[image] = accel
        return accel


def boot(image: Path, initramfs: Path, mem: str, args: list[str],
         timeout: float, log_path: Path, echo: TextIO | None = None) -> Boot:
    """As uml.boot(), for the x86_64 kernel @image.

    A TCG guest sometimes stops early in boot, before any of the
    scenario's code ran (seen: once in about 60 boots under load, after
    'Switched to clocksource tsc-early'). A boot whose /init has not
    started the scenario within START_WITHIN seconds is stopped and
    booted once more; its log is kept beside the second one's and the
    outcome says so. A second stall is a failure like any other."""
    accel = accel_for(image, initramfs, log_path.parent)
    cmd = command(image, initramfs, mem, args, accel)
    first = _untangled(run_guest(cmd, None, timeout, log_path, echo,
                                 START_WITHIN))
    if not first.stalled:
        return first
    stalled_log = log_path.with_suffix('.stalled.log')
    log_path.replace(stalled_log)
    log(f'x86_64: {log_path.name}: /init not started after '
        f'{START_WITHIN:.0f} s; booting again (first log: {stalled_log})')
    again = _untangled(run_guest(cmd, None, timeout, log_path, echo,
                                 START_WITHIN))
    again.note = (f'the first boot stalled before /init '
                  f'(log: {stalled_log}); booted again')
    return again


# The start of a kernel record on the console: "[    8.301595] "
_RECORD = re.compile(r'\[\s*\d+\.\d{6}\] ')


def untangle(lines: list[str]) -> list[str]:
    """The console as whole lines: each kernel record on its own, and the
    pieces of a user-space line that records split joined again, in the
    order the lines ended.

    The console thread writes a record and its newline at once, so a record
    runs from its timestamp to the end of the line it starts on; what is
    before it on that line is part of a user-space line that ends at the
    next line with no record in it."""
    out: list[str] = []
    user = ''
    for line in lines:
        m = _RECORD.search(line)
        if m is None:
            out.append(user + line)
            user = ''
            continue
        user += line[:m.start()]
        out.append(line[m.start():])
    if user:
        out.append(user)
    return out


def _untangled(b: Boot) -> Boot:
    b.console = untangle(b.console)
    b.init_exit = scenario_exit(b.console)
    return b
