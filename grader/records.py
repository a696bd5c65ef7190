"""What happened to each submission when it was graded: the record the summary, the
report and the resume logic read.

One JSON file per submission, ``grading/records/<assignment>/<student>.json``, written
atomically by the process that owns the gradebook. The gradebook stays the record of the
*grades*; this file adds what nbgrader does not keep: how long grading took, why it
failed, which test failed with which message, and what looked suspicious.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .escape import printable

RECORDS = Path("grading") / "records"

GRADED = "graded"
FAILED = "failed"


@dataclass
class TestOutcome:
    """One graded test cell of one notebook."""

    notebook: str
    grade_id: str
    points: float
    score: float | None
    message: str | None = None  # why it lost points: "AssertionError: ...", stderr, timeout

    @property
    def passed(self) -> bool:
        return self.score is not None and self.score >= self.points


@dataclass
class Result:
    """One submission (a student's assignment) as our grader saw it."""

    assignment: str
    student: str
    status: str = FAILED  # GRADED or FAILED
    submitted_hash: str = ""
    notebooks: list[str] = field(default_factory=list)
    seconds: float = 0.0  # wall time in the worker, kernel start to grades
    execute_seconds: float = 0.0  # of which in nbgrader's Execute (kernel ready + cells)
    kernel_wait_seconds: float = 0.0  # of which waiting for the kernel to be ready
    worker: int | None = None
    finished: float = 0.0  # time.time()
    score: float | None = None
    max_score: float | None = None
    tests: list[TestOutcome] = field(default_factory=list)
    failure: str | None = None  # why the submission could not be graded
    failed_before_kernel: bool = False  # failed while it was read and checked: nothing ran
    flags: list[str] = field(default_factory=list)  # what an instructor should look at
    warnings: list[str] = field(default_factory=list)  # nbgrader's own warnings
    sandbox: str = ""  # what the kernel's sandbox said of itself ("sandboxed", ...)
    guard: dict[str, dict] = field(default_factory=dict)  # notebook -> the grading guard's cost

    @property
    def key(self) -> tuple[str, str]:
        return (self.assignment, self.student)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> Result:
        data = dict(data)
        data["tests"] = [TestOutcome(**t) for t in data.get("tests", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def path(root: Path, assignment: str, student: str) -> Path:
    return Path(root) / RECORDS / assignment / f"{student}.json"


CHECKSUM = re.compile(r"Attribute 'checksum' for cell (\S+) has changed!")


def explain_checksums(warnings: list[str]) -> list[str]:
    """nbgrader's "Attribute 'checksum' for cell X has changed!" comes for every test cell
    with hidden tests: the released cell lacks them, so its checksum differs from the
    course's cell, which grading puts back. It reads as tampering and is not: the lines
    are replaced by one that says so (an edited test cell is flagged on its own)."""
    cells = [m.group(1) for w in warnings if (m := CHECKSUM.search(w))]
    if not cells:
        return warnings
    kept = [w for w in warnings if not CHECKSUM.search(w)]
    return kept + [f"nbgrader said \"Attribute 'checksum' ... has changed!\" for "
                   f"{len(cells)} cell(s) ({', '.join(sorted(set(cells)))}): expected, not "
                   f"tampering. Released test cells lack their hidden tests, so their checksum "
                   f"differs from the course's cells, which grading puts back; a test cell a "
                   f"student edited is flagged separately."]


def clean(result: Result) -> Result:
    """Escape control characters (ANSI sequences, bidi overrides...) in what the grader
    says about a submission, in place: failures, flags and test messages are quoted from
    the submission and end up on the instructor's terminal and pages."""
    if result.failure is not None:
        result.failure = printable(result.failure)
    result.flags = [printable(f) for f in result.flags]
    result.warnings = [printable(w, multiline=True) for w in explain_checksums(result.warnings)]
    for test in result.tests:
        if test.message is not None:
            test.message = printable(test.message)
    return result


def save(root: Path, result: Result) -> Path:
    clean(result)
    dest = path(root, result.assignment, result.student)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(result.to_json())
    os.replace(tmp, dest)
    return dest


def load(root: Path, assignment: str, student: str) -> Result | None:
    p = path(root, assignment, student)
    try:
        return Result.from_dict(json.loads(p.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def load_all(root: Path, assignment: str | None = None) -> list[Result]:
    base = Path(root) / RECORDS
    pattern = f"{assignment}/*.json" if assignment else "*/*.json"
    out = []
    for p in sorted(base.glob(pattern)):
        try:
            out.append(Result.from_dict(json.loads(p.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    return out


def remove(root: Path, assignment: str, student: str) -> None:
    path(root, assignment, student).unlink(missing_ok=True)


def submission_hash(folder: Path, ignore: list[str] | None = None) -> str:
    """A fingerprint of everything a student submitted (file names and contents,
    timestamp.txt included): a changed fingerprint means the submission must be regraded."""
    import fnmatch

    ignore = ignore or []
    digest = hashlib.sha256()
    folder = Path(folder)
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in ignore):
            continue
        if p.is_symlink():  # where it points, not what: it may point anywhere
            digest.update(str(rel).encode() + b"\0->" + os.fsencode(os.readlink(p)))
        elif p.is_file():
            digest.update(str(rel).encode() + b"\0")
            with open(p, "rb") as fh:  # in chunks: a submitted file may be huge
                digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()
