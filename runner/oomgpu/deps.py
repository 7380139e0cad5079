"""Installs the Debian packages the build and the guests need, saying which."""

from __future__ import annotations

import os
import subprocess

from .kbuild import BuildError, log

# Package -> why oomgpu needs it.
PACKAGES = {
    'gcc': 'builds the kernel and the static test programs',
    'libc6-dev': 'static libc for the guest programs',
    'make': 'kernel build',
    'flex': 'kernel build (kconfig)',
    'bison': 'kernel build (kconfig)',
    'bc': 'kernel build',
    'git': 'base tree, worktrees and git am',
    'xz-utils': 'unpacks linux-source-X.Y',
    'rsync': "make headers_install (the base's uapi headers for the guests)",
    'ccache': 'makes rebuilds cheap (optional, used when present)',
    'python3': 'the runner',
    'perl': 'checkpatch.pl and get_maintainer.pl',
    'python3-ply': "checkpatch.pl's SPDX check (scripts/spdxcheck.py)",
    'python3-git': "checkpatch.pl's SPDX check (scripts/spdxcheck.py)",
    'codespell': "checkpatch.pl's spelling check",
    'gnuplot-nox': "make run's plot of reaped memory over time",
    'libelf-dev': 'x86_64 kernel build (objtool)',
    'qemu-system-x86': 'boots the x86_64 KUnit kernel (make kunit-x86)',
    'python3-jsonschema': 'checks results/<ts>/kcidb.json against KCIDB',
    'python3-rfc3987': "lets python3-jsonschema check the KCIDB URLs",
}


def missing() -> list[str]:
    out = []
    for pkg in PACKAGES:
        res = subprocess.run(['dpkg-query', '-W', '-f=${Status}', pkg],
                             capture_output=True, text=True)
        if 'install ok installed' not in res.stdout:
            out.append(pkg)
    return out


def _archive_known() -> bool:
    """Whether apt's lists know the packages fetched with apt-get download."""
    res = subprocess.run(['apt-cache', 'show', 'linux-source-6.12',
                          'busybox-static'], capture_output=True)
    return res.returncode == 0


def ensure() -> None:
    need = missing()
    if not need and _archive_known():
        log('Debian packages: all present (' + ' '.join(PACKAGES) + ')')
        return
    if not need:
        log('apt lists do not know linux-source-6.12: running apt-get update')
    else:
        log('installing Debian packages: ' + ', '.join(
            f'{p} ({PACKAGES[p]})' for p in need))
    if os.geteuid() != 0:
        raise BuildError('not root: run  apt-get update && apt-get install '
                         + ' '.join(need))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmds = [['apt-get', 'update', '-q']]
    if need:
        cmds.append(['apt-get', 'install', '-y', '-q',
                     '--no-install-recommends', *need])
    for cmd in cmds:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError(f'{" ".join(cmd)} failed:\n{res.stdout[-2000:]}'
                             f'{res.stderr[-2000:]}')
