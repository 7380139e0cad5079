"""Platforms: what a kernel flavour is built for and booted on.

  uml     User Mode Linux, the default: a `linux` binary booted directly,
          about a second per boot; no THP, ZONE_DEVICE or secret memory.
  x86_64  an x86_64 kernel booted under Debian's qemu-system-x86_64 on the
          same initramfs, for what UML lacks (THP, ZONE_DEVICE, secret
          memory, SMP that runs a process's threads in parallel).

A base offers x86_64 when its BASE names an `x86_64-config` fragment; every
base offers uml. A scenario names the platforms it runs on in the
catalogue (tests/scenarios.toml, default uml only).
"""

from __future__ import annotations

from dataclasses import dataclass

from .bases import Base


@dataclass(frozen=True)
class Platform:
    name: str
    arch: str                    # kbuild's ARCH=
    fragments: tuple[str, ...]   # after base.config and debug.config
    image: str                   # what boots, inside the output directory

    def output_name(self, flavour: str) -> str:
        """The output directory's suffix: UML's keeps the flavour's bare
        name, so existing build directories and ccache stay valid."""
        return flavour if self.name == UML.name else f'{self.name}-{flavour}'

    def base_fragments(self, base: Base) -> tuple[str, ...]:
        """The base's own fragment for this platform (uml-7.3.config)."""
        return base.config if self.name == UML.name else base.x86_64_config


UML = Platform('uml', 'um', ('uml.config',), 'linux')
X86_64 = Platform('x86_64', 'x86_64', ('x86_64.config',),
                  'arch/x86/boot/bzImage')
PLATFORMS = {p.name: p for p in (UML, X86_64)}


def of_base(base: Base) -> list[Platform]:
    """The platforms @base can be built for."""
    return [p for p in PLATFORMS.values() if p.base_fragments(base) or
            p is UML]
