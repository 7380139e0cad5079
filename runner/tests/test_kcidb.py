"""kcidb.json: a document built from real runner outcomes validates against
KCIDB I/O v5.3, and the validator does reject what the schema forbids."""

import copy
import hashlib
import json
import tempfile
import unittest
from pathlib import Path

from oomgpu import kcidb
from oomgpu.judge import judge
from oomgpu.scenarios import Scenario
from oomgpu.uml import Boot, scenario_exit

GOLDEN = Path(__file__).parent / 'golden'
TOP = Path(__file__).resolve().parents[2]
SERIES = TOP / 'kernel-patches' / '7.3' / 'oom-reap'


def _outcome(name: str, log: str, flavour: str, reproduces: bool = False):
    lines = (GOLDEN / log).read_text().splitlines(keepends=True)
    boot = Boot(0, False, 1.5, lines, scenario_exit(lines))
    scenario = Scenario(name, '', ('smoke',), '128M', 60, True, (),
                        'pass', 'ktap', reproduces=reproduces)
    return judge(scenario, flavour, boot, GOLDEN / log, base='7.3')


def _document() -> dict:
    patches = [SERIES / n for n in (SERIES / 'series').read_text().split()]
    checkouts = [kcidb.Checkout('7.3.patched', '4' * 40,
                                'linux-source-7.3 7.3.4-1~bpo13+1',
                                'debian-linux-source-7.3', patches,
                                misc={'flavour': 'patched'})]
    builds = [kcidb.Build('7.3.uml.patched', '7.3.patched', 'um',
                          'base.config+debug.config+uml.config', None, None,
                          'make ARCH=um O=.oomgpu-out-patched')]
    outcomes = [(_outcome('oom-smoke', 'uml_oom_smoke.log', 'patched'),
                 '7.3.uml.patched'),
                (_outcome('boot', 'uml_lkdtm_warning.log', 'patched'),
                 '7.3.uml.patched')]
    return kcidb.document('20261202-120000', '2026-12-02T12:00:00+00:00',
                          checkouts, builds, outcomes)


class KcidbTest(unittest.TestCase):
    def _errors(self, doc: dict) -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / 'kcidb.json'
            kcidb.write(doc, path)
            return kcidb.validate(path)

    def test_a_run_validates(self) -> None:
        doc = _document()
        self.assertEqual(self._errors(doc), [])
        self.assertEqual(doc['version'], {'major': 5, 'minor': 3})
        ids = [t['id'] for t in doc['tests']]
        self.assertEqual(len(ids), len(set(ids)), 'test ids must be unique')
        # the scenario and its KTAP subtests, below it in the path tree
        smoke = [t for t in doc['tests'] if t['path'] == 'oomgpu.oom-smoke']
        self.assertEqual(len(smoke), 1)
        self.assertEqual(smoke[0]['status'], 'PASS')
        self.assertTrue(smoke[0]['log_url'].startswith('file:///'))
        self.assertTrue(any(t['path'].startswith('oomgpu.oom-smoke.')
                            for t in doc['tests']))
        # a splat failed the boot scenario: FAIL, with the reason quoted
        boot = [t for t in doc['tests'] if t['path'] == 'oomgpu.boot'][0]
        self.assertEqual(boot['status'], 'FAIL')
        self.assertIn('kernel splat', boot['log_excerpt'])

    def test_patchset_hash_is_kcidbs(self) -> None:
        patches = [SERIES / n for n in (SERIES / 'series').read_text().split()]
        inner = ''.join(hashlib.sha256(p.read_bytes()).hexdigest() + '\n'
                        for p in patches)
        self.assertEqual(kcidb.patchset_hash(patches),
                         hashlib.sha256(inner.encode()).hexdigest())
        self.assertEqual(kcidb.patchset_hash([]), '')

    def test_the_validator_rejects_what_the_schema_forbids(self) -> None:
        for breaks in (
                lambda d: d['tests'][0].update(status='BROKEN'),
                lambda d: d['builds'][0].update(config_url='not a uri'),
                lambda d: d['checkouts'][0].update(git_commit_hash='xyz'),
                lambda d: d['tests'][0].update(unknown_field=1),
                lambda d: d.pop('version')):
            doc = copy.deepcopy(_document())
            breaks(doc)
            self.assertNotEqual(self._errors(doc), [], json.dumps(doc)[:200])

    def test_the_schema_is_the_workplaces(self) -> None:
        shared = TOP.parent / 'shared' / 'kcidb' / kcidb.SCHEMA.name
        if not shared.exists():
            self.skipTest(f'{shared} is not on this machine')
        self.assertEqual(shared.read_bytes(), kcidb.SCHEMA.read_bytes())


if __name__ == '__main__':
    unittest.main()
