"""results/<ts>/kcidb.json: a run in KernelCI's KCIDB I/O format, v5.3.

What KCIDB calls a checkout is a base tree with a patch set applied: one per
base and flavour (and per x86_64 KUnit variant), with the Debian source's or
the user's (KSRC=) commit and the flavour's patches. One build per checkout
and platform (UML's `um`, `x86_64`), with its .config. One test per scenario
boot (path oomgpu.<scenario>) and one per KTAP subtest below it
(oomgpu.<scenario>.<subtest>...), with the runner's verdict, the duration,
the log and, in misc, the OOM figures of results' summary.json.

Statuses: a scenario's is the runner's verdict (a scenario that reproduces
the bug on baseline, or a self-check that fails as it must, is PASS, with
misc.failures_expected); a subtest's is what the program reported, an
expected failure being FAIL with misc.expected_failure. A timeout is ERROR.

URLs are file:// URLs of this machine's results and source trees: a
submitter that uploads the results directory rewrites them (docs/runner.md).

Checked with the schema (runner/kcidb/, kcidb-io's LATEST, v5.3) by
python3-jsonschema's Draft7Validator with format checking on (python3-rfc3987
checks `uri`). Debian's python3-jsonschema is for /usr/bin/python3: when the
runner's own interpreter has no jsonschema, validate() runs this module
there (`python3 -m oomgpu.kcidb validate FILE`).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .judge import Outcome
from .ktap import Status, TestResult
from .report import outcome_json

ORIGIN = 'oomgpu'
VERSION = {'major': 5, 'minor': 3}
# A copy of ../shared/kcidb's, so that a clone validates on its own.
SCHEMA = Path(__file__).resolve().parents[1] / 'kcidb' / \
    'kcidb-io.schema.v5.3.json'
# log_excerpt's maxLength in the schema
EXCERPT_MAX = 16384
DEBIAN_PYTHON = '/usr/bin/python3'


@dataclass
class Checkout:
    """A base tree and the patches applied to it, in order."""
    key: str                  # '7.3.patched': unique within the run
    commit: str               # 40 hex digits
    commit_name: str          # 'linux-source-7.3 7.3.4-1~bpo13+1'
    tree_name: str
    patches: list[Path]
    repository_url: str = ''  # https only (the schema's pattern)
    misc: dict[str, Any] = field(default_factory=dict)


@dataclass
class Build:
    key: str                  # '7.3.x86_64.patched'
    checkout: str             # Checkout.key
    architecture: str         # 'um', 'x86_64'
    config_name: str
    config: Path | None
    image: Path | None
    command: str = ''
    misc: dict[str, Any] = field(default_factory=dict)


@dataclass
class Test:
    """A test run outside the scenario boots (the kunit.py kernels)."""
    key: str
    build: str                # Build.key
    path: str
    status: str
    duration: float
    log: Path
    excerpt: str
    misc: dict[str, Any] = field(default_factory=dict)
    results: list[TestResult] = field(default_factory=list)


def patchset_hash(patches: list[Path]) -> str:
    """KCIDB's patchset_hash: sha256 over the newline-terminated sha256
    hex digests of each patch, in order; '' for no patches."""
    if not patches:
        return ''
    digests = ''.join(hashlib.sha256(p.read_bytes()).hexdigest() + '\n'
                      for p in patches)
    return hashlib.sha256(digests.encode()).hexdigest()


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


def _segment(name: str) -> str:
    """A name as one segment of a KCIDB path ([a-zA-Z0-9_-]+)."""
    return re.sub(r'[^a-zA-Z0-9_-]+', '_', name).strip('_') or 'unnamed'


def _text(value: str) -> str:
    """Text the schema accepts (no NUL), cut to what log_excerpt allows."""
    value = value.replace('\0', '')
    return value[-EXCERPT_MAX:]


_STATUS = {Status.PASS: 'PASS', Status.FAIL: 'FAIL', Status.SKIP: 'SKIP',
           Status.XFAIL: 'FAIL', Status.TIMEOUT: 'ERROR',
           Status.ERROR: 'ERROR'}


def _checkout(run: str, c: Checkout, start: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        'id': f'{ORIGIN}:{run}.{c.key}',
        'origin': ORIGIN,
        'tree_name': c.tree_name,
        'git_commit_hash': c.commit,
        'git_commit_name': c.commit_name,
        'patchset_files': [{'name': p.name, 'url': _uri(p)}
                           for p in c.patches],
        'patchset_hash': patchset_hash(c.patches),
        'start_time': start,
        'valid': True,
        'misc': c.misc,
    }
    if c.repository_url.startswith('https://'):
        out['git_repository_url'] = c.repository_url
    return out


def _build(run: str, b: Build, start: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        'id': f'{ORIGIN}:{run}.{b.key}',
        'checkout_id': f'{ORIGIN}:{run}.{b.checkout}',
        'origin': ORIGIN,
        'architecture': b.architecture,
        'config_name': b.config_name,
        'start_time': start,
        'status': 'PASS',
        'misc': b.misc,
    }
    if b.command:
        out['command'] = b.command
    if b.config and b.config.exists():
        out['config_url'] = _uri(b.config)
    if b.image and b.image.exists():
        out['output_files'] = [{'name': b.image.name, 'url': _uri(b.image)}]
    return out


def _subtests(run: str, build_id: str, prefix_id: str, prefix: str,
              results: list[TestResult]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for res in results:
        segment = _segment(res.name)
        seen[segment] = seen.get(segment, 0) + 1
        if seen[segment] > 1:   # two KTAP documents may reuse a name
            segment = f'{segment}-{seen[segment]}'
        test_id = f'{prefix_id}.{segment}'
        entry: dict[str, Any] = {
            'id': test_id,
            'build_id': build_id,
            'origin': ORIGIN,
            'path': f'{prefix}.{segment}',
            'status': _STATUS[res.status],
            'misc': {'ktap_name': res.name},
        }
        if res.status == Status.XFAIL:
            entry['misc']['expected_failure'] = True
        if res.directive:
            entry['misc']['directive'] = res.directive
        if res.diagnostics:
            entry['log_excerpt'] = _text('\n'.join(res.diagnostics) + '\n')
        out.append(entry)
        out += _subtests(run, build_id, test_id, entry['path'],
                         res.subtests)
    return out


def _scenario_tests(run: str, o: Outcome, build_key: str) -> list[dict]:
    build_id = f'{ORIGIN}:{run}.{build_key}'
    test_id = f'{build_id}.{o.scenario.name}'
    path = f'{ORIGIN}.{_segment(o.scenario.name)}'
    excerpt = '\n'.join(o.problems or ([o.note] if o.note else []))
    tail = ''.join(o.boot.console[-40:])
    entry: dict[str, Any] = {
        'id': test_id,
        'build_id': build_id,
        'origin': ORIGIN,
        'path': path,
        'status': _STATUS[o.status],
        'duration': round(o.boot.wall_seconds, 3),
        'log_url': _uri(o.log_path),
        'log_excerpt': _text((excerpt + '\n' if excerpt else '') + tail),
        'environment': {
            'comment': f'{o.platform} guest, mem={o.scenario.mem}',
            'misc': {'platform': o.platform, 'mem': o.scenario.mem},
        },
        'misc': outcome_json(o),
    }
    return [entry] + _subtests(run, build_id, test_id, path, o.results())


def document(run: str, start: str, checkouts: list[Checkout],
             builds: list[Build], outcomes: list[tuple[Outcome, str]],
             tests: list[Test] = ()) -> dict[str, Any]:
    """The KCIDB document of run @run (the results directory's name),
    started at @start (RFC 3339); @outcomes pairs each scenario outcome with
    the key of the build it booted."""
    doc_tests: list[dict[str, Any]] = []
    for o, build_key in outcomes:
        doc_tests += _scenario_tests(run, o, build_key)
    for t in tests:
        test_id = f'{ORIGIN}:{run}.{t.key}'
        build_id = f'{ORIGIN}:{run}.{t.build}'
        doc_tests.append({
            'id': test_id,
            'build_id': build_id,
            'origin': ORIGIN,
            'path': t.path,
            'status': t.status,
            'duration': round(t.duration, 3),
            'log_url': _uri(t.log),
            'log_excerpt': _text(t.excerpt),
            'misc': t.misc,
        })
        doc_tests += _subtests(run, build_id, test_id, t.path, t.results)
    return {
        'version': dict(VERSION),
        'checkouts': [_checkout(run, c, start) for c in checkouts],
        'builds': [_build(run, b, start) for b in builds],
        'tests': doc_tests,
    }


def write(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + '\n')


def _checker() -> Any:
    """jsonschema's format checker if this interpreter can check `uri`
    with it, else None."""
    try:
        import jsonschema   # python3-jsonschema
    except ImportError:
        return None
    checker = jsonschema.FormatChecker()
    return checker if 'uri' in checker.checkers else None


def _errors_here(doc: Any) -> list[str]:
    import jsonschema
    checker = _checker()
    if checker is None:
        return ['jsonschema cannot check format "uri" here: '
                'install python3-jsonschema and python3-rfc3987']
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=checker)
    return [f'{"/".join(str(p) for p in e.absolute_path) or "(top)"}: '
            f'{e.message}' for e in validator.iter_errors(doc)][:20]


def validate(path: Path) -> list[str]:
    """The schema's complaints about @path; none if it is valid. Runs in
    Debian's python3 unless this interpreter checks formats itself."""
    if _checker() is not None:
        return _errors_here(json.loads(path.read_text()))
    res = subprocess.run(
        [DEBIAN_PYTHON, '-m', 'oomgpu.kcidb', 'validate', str(path)],
        cwd=Path(__file__).resolve().parents[1], text=True,
        capture_output=True)
    if res.returncode not in (0, 1):
        return [f'{DEBIAN_PYTHON} -m oomgpu.kcidb validate failed: '
                f'{res.stderr.strip()[-500:]}']
    return [line for line in res.stdout.splitlines() if line]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != 'validate':
        print('usage: python3 -m oomgpu.kcidb validate FILE', file=sys.stderr)
        return 2
    errors = _errors_here(json.loads(Path(argv[1]).read_text()))
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
