"""What every build step shares: its error, its log line, running a command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class BuildError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f'oomgpu: {msg}', file=sys.stderr, flush=True)


def run(cmd: list[str], cwd: Path | None = None,
        env: dict[str, str] | None = None) -> str:
    full_env = dict(os.environ, **(env or {}))
    res = subprocess.run(cmd, cwd=cwd, env=full_env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if res.returncode != 0:
        tail = '\n'.join(res.stdout.splitlines()[-40:])
        raise BuildError(f'{" ".join(cmd)} failed ({res.returncode}):\n{tail}')
    return res.stdout
