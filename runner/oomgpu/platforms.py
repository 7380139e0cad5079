"""Platforms: what a kernel flavour is built for and booted on.

  uml     User Mode Linux, the default: a `linux` binary booted directly,
          about a second per boot; no THP, ZONE_DEVICE or secret memory.
  x86_64  an x86_64 kernel booted under Debian's qemu-system-x86_64 on the
          same initramfs, for what UML lacks (THP, ZONE_DEVICE, secret
          memory, SMP that runs a process's threads in parallel).
  x86_64-kasan
          the x86_64 kernel with generic KASAN (kasan.config), patched
          flavour only: a checking kernel, booted by `test` and `show`,
          never measured by `run` or `bench` (KASAN changes the times
          and the memory there is to reap).

A base offers x86_64 and x86_64-kasan when its BASE names an `x86_64-config`
fragment; every base offers uml. A scenario names the platforms it runs on in the
catalogue (tests/scenarios.toml, default uml only).
"""

from __future__ import annotations

from dataclasses import dataclass

from .bases import FLAVOURS, Base


@dataclass(frozen=True)
class Platform:
    name: str
    arch: str                    # kbuild's ARCH=
    fragments: tuple[str, ...]   # after base.config and debug.config
    image: str                   # what boots, inside the output directory
    # The flavours built for it
    flavours: tuple[str, ...] = FLAVOURS
    # Whether `run` and `bench` boot it (a checking kernel is not measured)
    measured: bool = True
    # Scenario timeouts are multiplied by this (KASAN under TCG is slower)
    slowdown: float = 1.0
    # MiB added to each scenario's guest memory: what the kernel itself
    # takes more than on x86_64 (KASAN: its shadow, an eighth of memory,
    # the quarantine and redzones), so that user space has what the
    # scenario sized its processes for
    extra_mem_mb: int = 0
    # Kernel arguments every boot on it gets
    kernel_args: tuple[str, ...] = ()
    # How its .config is made from the fragments (kconfig.py): Kconfig's
    # defaults for what they do not name, or everything visible off
    kconfig: str = 'olddefconfig'

    def guest_mem(self, mem: str) -> str:
        """The guest memory for a scenario that asks for @mem ("256M")."""
        if not self.extra_mem_mb:
            return mem
        units = {'M': 1, 'G': 1024}
        return f'{int(mem[:-1]) * units[mem[-1]] + self.extra_mem_mb}M'

    def output_name(self, flavour: str) -> str:
        """The output directory's suffix: UML's keeps the flavour's bare
        name, so existing build directories and ccache stay valid."""
        return flavour if self.name == UML.name else f'{self.name}-{flavour}'

    def base_fragments(self, base: Base) -> tuple[str, ...]:
        """The base's own fragment for this platform (uml-7.3.config)."""
        return base.config if self.name == UML.name else base.x86_64_config


UML = Platform('uml', 'um', ('uml.config',), 'linux')
# x86_64 from allnoconfig: no ACPI, PCI, input, CPU frequency or power
# management, nothing a QEMU guest with a serial console and an initramfs
# does not use (kernel-config/x86_64.config names what it does use).
X86_64 = Platform('x86_64', 'x86_64', ('x86_64.config',),
                  'arch/x86/boot/bzImage', kconfig='allnoconfig')
X86_64_KASAN = Platform('x86_64-kasan', 'x86_64',
                        ('x86_64.config', 'kasan.config'),
                        'arch/x86/boot/bzImage', flavours=('patched',),
                        kconfig='allnoconfig',
                        measured=False, slowdown=3.0, extra_mem_mb=96,
                        # Four-level paging: with LA57 (QEMU's -cpu max),
                        # identify_cpu() clears boot_cpu_data's LA57 bit
                        # for a moment, KASAN then takes direct-map
                        # addresses for wild ones, and an interrupt in that
                        # window reported "wild-memory-access in
                        # do_raw_spin_lock" at 0.004 s (1 boot in about 30).
                        kernel_args=('no5lvl',))
PLATFORMS = {p.name: p for p in (UML, X86_64, X86_64_KASAN)}


def of_base(base: Base) -> list[Platform]:
    """The platforms @base can be built for."""
    return [p for p in PLATFORMS.values() if p.base_fragments(base) or
            p is UML]
