"""KTAP parsing for UML console logs.

A console log holds several KTAP documents (KUnit prints one per suite set,
each guest program prints its own) interleaved with kernel messages. Unlike
kunit.py's parser, which stops after the first document, split_documents()
finds all of them, and parse_document() builds a tree of results from the
indentation, the way Documentation/dev-tools/ktap.rst nests subtests.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable

# printk's "[   12.345678] " prefix; userspace lines on the console have none.
_TIMESTAMP = re.compile(r'^\[\s*\d+\.\d+\] ?')
_VERSION = re.compile(r'^K?TAP version \d+$')
_PLAN = re.compile(r'^1\.\.(\d+)$')
_TEST = re.compile(r'^(not )?ok (\d+)(?: -)?(?: ([^#]*?))?\s*(?:#\s*(.*))?$')
# '# text' or a bare '#'; not lockdep's ' #0: (lock)' lines, which would
# otherwise end a nested block early.
_DIAGNOSTIC = re.compile(r'^#(?: (.*))?$')


class Status(enum.Enum):
    PASS = 'PASS'
    FAIL = 'FAIL'
    SKIP = 'SKIP'
    XFAIL = 'XFAIL'
    TIMEOUT = 'TIMEOUT'
    ERROR = 'ERROR'   # missing from the plan, or the document never ended

    @property
    def ok(self) -> bool:
        """Whether this result lets the run pass."""
        return self in (Status.PASS, Status.SKIP, Status.XFAIL)


@dataclass
class TestResult:
    number: int
    name: str
    status: Status
    directive: str = ''
    diagnostics: list[str] = field(default_factory=list)
    subtests: list['TestResult'] = field(default_factory=list)

    def leaves(self) -> list['TestResult']:
        """The innermost results below (or equal to) this one."""
        if not self.subtests:
            return [self]
        out: list[TestResult] = []
        for sub in self.subtests:
            out.extend(sub.leaves())
        return out


@dataclass
class Document:
    plan: int | None
    tests: list[TestResult]
    diagnostics: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.tests) and all(t.status.ok for t in self.tests)


@dataclass
class _Line:
    indent: int
    body: str


def strip_console_prefix(line: str) -> str:
    """Removes printk's timestamp, if any, and the line ending."""
    return _TIMESTAMP.sub('', line.rstrip('\r\n'))


def _ktap_lines(lines: Iterable[str]) -> list[_Line]:
    """Keeps only lines that belong to the KTAP grammar, with their depth."""
    out = []
    for raw in lines:
        text = strip_console_prefix(raw).expandtabs(4)
        body = text.lstrip(' ')
        if not body:
            continue
        if (_VERSION.match(body) or _PLAN.match(body) or
                _TEST.match(body) or _DIAGNOSTIC.match(body)):
            out.append(_Line(len(text) - len(body), body))
    return out


def split_documents(lines: Iterable[str]) -> list[list[_Line]]:
    """Splits a console log at every top-level 'KTAP version' line."""
    docs: list[list[_Line]] = []
    current: list[_Line] | None = None
    for line in _ktap_lines(lines):
        if line.indent == 0 and _VERSION.match(line.body):
            current = []
            docs.append(current)
            continue
        if current is not None:
            current.append(line)
    return docs


def _status_of(negated: bool, directive: str) -> Status:
    word = directive.split(' ', 1)[0].upper() if directive else ''
    if word == 'SKIP':
        return Status.SKIP
    if word in ('XFAIL', 'TODO'):
        return Status.XFAIL
    if word == 'TIMEOUT':
        return Status.TIMEOUT
    return Status.FAIL if negated else Status.PASS


def _parse_level(lines: list[_Line], pos: int, indent: int
                 ) -> tuple[int | None, list[TestResult], list[str], int]:
    """Parses the results at one depth; deeper blocks become subtests of
    the result line that follows them."""
    plan: int | None = None
    tests: list[TestResult] = []
    pending_subtests: list[TestResult] = []
    pending_diags: list[str] = []
    while pos < len(lines):
        line = lines[pos]
        if line.indent < indent:
            break
        if line.indent > indent:
            _, subs, diags, pos = _parse_level(lines, pos, line.indent)
            pending_subtests.extend(subs)
            pending_diags.extend(diags)
            continue
        pos += 1
        if _VERSION.match(line.body):
            continue
        plan_match = _PLAN.match(line.body)
        if plan_match:
            plan = int(plan_match.group(1))
            continue
        test_match = _TEST.match(line.body)
        if test_match:
            negated, number, name, directive = test_match.groups()
            result = TestResult(int(number), (name or '').strip(),
                                _status_of(bool(negated), directive or ''),
                                (directive or '').strip(), pending_diags,
                                pending_subtests)
            # A parent that passed while a subtest failed is still a failure.
            if result.status == Status.PASS and any(
                    not s.status.ok for s in pending_subtests):
                result.status = Status.FAIL
            tests.append(result)
            pending_subtests, pending_diags = [], []
            continue
        diag = _DIAGNOSTIC.match(line.body)
        # "# Subtest: NAME" restates the name the result line carries.
        text = (diag.group(1) or '') if diag else ''
        if diag and not text.startswith('Subtest: '):
            pending_diags.append(text)
    # Results that were announced by a nested block but never closed (the
    # kernel died mid-suite) surface as an error rather than vanishing.
    if pending_subtests:
        tests.append(TestResult(len(tests) + 1, '(unterminated subtest)',
                                Status.ERROR, '', pending_diags,
                                pending_subtests))
        pending_diags = []
    _add_missing(plan, tests)
    return plan, tests, pending_diags, pos


def _add_missing(plan: int | None, tests: list[TestResult]) -> None:
    if plan is None:
        return
    seen = {t.number for t in tests}
    for number in range(1, plan + 1):
        if number not in seen:
            tests.append(TestResult(number, f'(missing test {number})',
                                    Status.ERROR))


def parse_document(lines: list[_Line]) -> Document:
    """Builds the result tree of one document from split_documents()."""
    indent = lines[0].indent if lines else 0
    plan, tests, diags, _ = _parse_level(lines, 0, indent)
    return Document(plan, tests, diags)


def parse_log(lines: Iterable[str]) -> list[Document]:
    """All KTAP documents in a console log, in order."""
    return [parse_document(doc) for doc in split_documents(lines)]


def format_result(result: TestResult, indent: int = 0) -> list[str]:
    """Renders a result and its subtests back as KTAP lines."""
    pad = ' ' * indent
    out: list[str] = []
    if result.subtests:
        out.append(f'{pad}    KTAP version 1')
        out.append(f'{pad}    # Subtest: {result.name}')
        out.append(f'{pad}    1..{len(result.subtests)}')
        for sub in result.subtests:
            out.extend(format_result(sub, indent + 4))
    for diag in result.diagnostics:
        out.append(f'{pad}# {diag}')
    # An expected failure is still "not ok"; its XFAIL directive excuses it.
    word = 'ok' if result.status in (Status.PASS, Status.SKIP) else 'not ok'
    directive = result.directive
    if result.status in (Status.ERROR, Status.TIMEOUT) and not directive:
        directive = result.status.value
    suffix = f' # {directive}' if directive else ''
    out.append(f'{pad}{word} {result.number} {result.name}{suffix}')
    return out
