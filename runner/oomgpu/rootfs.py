"""Builds the guest initramfs without root, loop devices or fakeroot.

The image is a gzip'd newc cpio written directly, so /dev/console can be a
character device although the build runs unprivileged. It holds Debian's
busybox-static, the init script, the static test programs built from
tests/*.c, the kernel's own selftests the scenarios run and the emugpu
kselftest collection (built from the base tree, under /kselftest), and the
scenario scripts; one image serves every scenario.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from .kbuild import BuildError, apt_download, log, run

# Raw uapi headers (not headers_install'ed) still carry __user.
CFLAGS = ['-O2', '-g', '-static', '-Wall', '-Wextra', '-Werror', '-D__user=']


@dataclass
class _Entry:
    path: str          # inside the image, without leading slash
    mode: int
    data: bytes = b''
    rdev: tuple[int, int] = (0, 0)


def _cpio_header(ino: int, e: _Entry) -> bytes:
    name = e.path.encode() + b'\0'
    fields = [ino, e.mode, 0, 0, 1, 0, len(e.data), 0, 0, e.rdev[0],
              e.rdev[1], len(name), 0]
    head = b'070701' + b''.join(b'%08X' % f for f in fields)
    pad = (4 - (len(head) + len(name)) % 4) % 4
    return head + name + b'\0' * pad


def write_cpio(entries: list[_Entry], out: Path) -> None:
    """Writes a gzip'd newc archive with a fixed timestamp (reproducible)."""
    body = bytearray()
    for ino, e in enumerate(entries, start=1):
        body += _cpio_header(ino, e)
        body += e.data + b'\0' * ((4 - len(e.data) % 4) % 4)
    body += _cpio_header(len(entries) + 1, _Entry('TRAILER!!!', 0))
    with open(out, 'wb') as raw:
        with gzip.GzipFile(fileobj=raw, mode='wb', mtime=0) as gz:
            gz.write(bytes(body))


def fetch_busybox(cache: Path) -> Path:
    """Debian's busybox-static binary, downloaded once without root."""
    binary = cache / 'busybox'
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    log('fetching busybox-static (apt-get download, no root needed)')
    for old in cache.glob('busybox-static_*.deb'):
        old.unlink()
    apt_download('busybox-static', cache)
    deb = next(cache.glob('busybox-static_*.deb'))
    tree = cache / 'busybox-static'
    run(['dpkg-deb', '-x', str(deb), str(tree)])
    shutil.copy2(tree / 'bin' / 'busybox', binary)
    shutil.rmtree(tree)
    deb.unlink()
    return binary


def build_programs(tests: Path, out: Path, include: list[Path]) -> list[Path]:
    """Compiles each tests/*.c into a static binary, when it changed."""
    out.mkdir(parents=True, exist_ok=True)
    built = []
    incs = [f'-I{p}' for p in include]
    for src in sorted(tests.glob('*.c')):
        binary = out / src.stem
        deps = [src, *sorted(tests.glob('*.h')),
                *sorted(p for d in include for p in d.rglob('*.h'))]
        if not binary.exists() or any(
                d.stat().st_mtime > binary.stat().st_mtime for d in deps):
            try:
                run(['gcc', *CFLAGS, *incs, '-o', str(binary), str(src)])
            except BuildError as err:
                raise BuildError(f'building {src.name}: {err}') from None
        built.append(binary)
    return built


# Directories of every image
IMAGE_DIRS = ('bin', 'dev', 'proc', 'sys', 'tmp', 'tests', 'scenarios')


def image_dirs(files: list[str]) -> list[str]:
    """IMAGE_DIRS and every directory above @files, parents first, each
    once (cpio needs a directory before what is in it)."""
    dirs = list(IMAGE_DIRS)
    for path in files:
        parts = Path(path).parts[:-1]
        dirs += [str(Path(*parts[:i + 1])) for i in range(len(parts))]
    return list(dict.fromkeys(dirs))


def build_initramfs(top: Path, build: Path, uapi: Path,
                    extra: list[tuple[str, Path]] | None = None) -> Path:
    """The guest image; @uapi holds the base's installed uapi headers,
    @extra (path in the image, file) programs built elsewhere (the
    kernel's selftests)."""
    busybox = fetch_busybox(build / 'busybox')
    # emugpu_drm.h includes "drm.h" as the kernel's uapi/drm headers do
    programs = build_programs(top / 'tests', build / 'tests',
                              [top / 'driver' / 'selftests',
                               top / 'driver' / 'include' / 'uapi',
                               uapi / 'drm', uapi])
    extra = extra or []
    dirs = image_dirs([p for p, _ in extra])
    entries = [_Entry(d, stat.S_IFDIR | 0o755) for d in dirs]
    entries += [
        _Entry('dev/console', stat.S_IFCHR | 0o600, rdev=(5, 1)),
        _Entry('dev/null', stat.S_IFCHR | 0o666, rdev=(1, 3)),
        _Entry('init', stat.S_IFREG | 0o755,
               (top / 'rootfs' / 'init').read_bytes()),
        _Entry('bin/busybox', stat.S_IFREG | 0o755, busybox.read_bytes()),
    ]
    for prog in programs:
        entries.append(_Entry(f'tests/{prog.name}', stat.S_IFREG | 0o755,
                              prog.read_bytes()))
    for path, program in extra:
        entries.append(_Entry(path, stat.S_IFREG | 0o755,
                              program.read_bytes()))
    for script in sorted((top / 'tests' / 'scenarios').iterdir()):
        entries.append(_Entry(f'scenarios/{script.name}',
                              stat.S_IFREG | 0o755, script.read_bytes()))
    image = build / 'initramfs.cpio.gz'
    tmp = image.with_suffix('.tmp')
    write_cpio(entries, tmp)
    os.replace(tmp, image)
    digest = hashlib.sha256(image.read_bytes()).hexdigest()[:12]
    log(f'initramfs {image} ({image.stat().st_size // 1024} KiB, {digest})')
    return image
