"""make outgoing: posting-ready copies of a base's series. Never sends.

The checked-in patches carry a placeholder author that fails the DCO. For
each series the base mails (the patched flavour's), this writes
build/outgoing/<base>/<series>/ with every patch's From: and the
placeholder's Signed-off-by: replaced by the user's git identity, and with
To: and Cc: headers that `git send-email` reads from the files: To the
maintainers get_maintainer.pl names, Cc its reviewers and lists plus the
people whose code the series touches (kernel-patches/<base>/<series>/cc).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .kbuild import BuildError, Tree, log

PLACEHOLDER = 'oomgpu developers <dev@oomgpu.invalid>'


@dataclass(frozen=True)
class Recipients:
    to: list[str]
    cc: list[str]


def identity(repo: Path) -> str:
    """'Name <email>' from git config (the oomgpu checkout's, or global)."""
    def get(key: str) -> str:
        res = subprocess.run(['git', 'config', key], cwd=repo, text=True,
                             capture_output=True)
        return res.stdout.strip()
    name, email = get('user.name'), get('user.email')
    if not name or not email:
        raise BuildError('make outgoing needs your identity for From: and '
                         'Signed-off-by:: git config --global user.name '
                         '"Your Name"; git config --global user.email '
                         'you@example.org')
    return f'{name} <{email}>'


def _get_maintainer(repo: Path, patches: list[Path],
                    flags: list[str]) -> list[str]:
    res = subprocess.run(['perl', str(repo / 'scripts' / 'get_maintainer.pl'),
                          '--no-rolestats', '--nogit', '--nogit-fallback',
                          *flags, *map(str, patches)], cwd=repo, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=dict(os.environ,
                                  PATH='/usr/bin:' + os.environ['PATH']))
    if res.returncode != 0:
        raise BuildError(f'get_maintainer.pl failed ({res.returncode})')
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def recipients(repo: Path, patches: list[Path], extra_cc: list[str]
               ) -> Recipients:
    to = _get_maintainer(repo, patches, ['--m', '--nor', '--nol'])
    cc = _get_maintainer(repo, patches, ['--nom', '--r', '--l'])
    # One address per person: MAINTAINERS may list two for one name.
    seen = {_name(who) for who in to}
    merged = []
    for who in cc + extra_cc:
        if _name(who) not in seen:
            seen.add(_name(who))
            merged.append(who)
    return Recipients(to, merged)


def _name(who: str) -> str:
    """'Jane Doe' of '"Jane Doe" <jd@x>', or the address of a list."""
    name = who.split('<')[0].strip().strip('"')
    return name or who.strip()


def rewrite(text: str, me: str, who: Recipients) -> str:
    """One patch (or cover letter) as @me sends it to @who."""
    text = text.replace(f'From: {PLACEHOLDER}', f'From: {me}', 1)
    text = text.replace(f'Signed-off-by: {PLACEHOLDER}',
                        f'Signed-off-by: {me}')
    # The cover letter's shortlog names the author too.
    name = me.split(' <')[0]
    text = re.sub(r'^oomgpu developers \((\d+)\):$', rf'{name} (\1):', text,
                  count=1, flags=re.M)
    headers = ''
    if who.to:
        headers += 'To: ' + ',\n    '.join(who.to) + '\n'
    if who.cc:
        headers += 'Cc: ' + ',\n    '.join(who.cc) + '\n'
    # After the Subject: header (which may be folded), before the body.
    m = re.search(r'^Subject: .*\n(?:[ \t].*\n)*', text, re.M)
    if m is None:
        raise BuildError('a patch without a Subject: header')
    return text[:m.end()] + headers + text[m.end():]


def write_outgoing(tree: Tree, dest: Path) -> list[Path]:
    me = identity(tree.top)
    written = []
    for directory in tree.base.series_dirs():
        listing = (directory / 'series').read_text().split()
        cover = directory / '0000-cover-letter.patch'
        patches = ([cover] if cover.exists() else []) + \
            [directory / n for n in listing]
        cc_file = directory / 'cc'
        extra = [line.strip() for line in cc_file.read_text().splitlines()
                 if line.strip() and not line.startswith('#')] \
            if cc_file.exists() else []
        who = recipients(tree.repo, [directory / n for n in listing], extra)
        out = dest / tree.base.name / directory.name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for patch in patches:
            (out / patch.name).write_text(rewrite(patch.read_text(), me, who))
        if PLACEHOLDER in ''.join(p.read_text() for p in out.iterdir()):
            raise BuildError(f'{out}: the placeholder author is still there')
        log(f'{out}: {len(patches)} file(s), From: {me}, '
            f'To: {len(who.to)}, Cc: {len(who.cc)}')
        written.append(out)
    return written
