"""Every hostile or broken submission in tests/hostile/ goes through one real grading run
(of 01_coroutines, or of the assignment a case names in ``ASSIGNMENT``), beside a solved
control submission of each assignment; each case's record must match its EXPECT, every
control must get full marks and the gradebook must stay whole."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import table
from _build import FULL, KINDS, Expect, assignment_of, cases, solved, write

from grader import course, records
from grader.autograde import Summary, autograde
from grader.release import release

pytestmark = pytest.mark.xdist_group("hostile")
CASES = cases()
ASSIGNMENTS = sorted({assignment_of(case) for case in CASES.values()})
CONTROL = "control_solved"
TIMEOUT = 6  # seconds a cell may run here
# ... or in these assignments, whose course cells run longer (08 crawls the demo site one page
# at a time to draw a timeline)
TIMEOUTS = {"08_capstone": 30}


@dataclass
class Graded:
    root: Path
    summaries: list[Summary]
    seconds: float


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Graded:
    root = course.copy_course(tmp_path_factory.mktemp("hostile"), with_release=False)
    release(root, ASSIGNMENTS)
    for slug, case in CASES.items():
        case.submit(root, slug)
    for assignment in ASSIGNMENTS:
        write(root, CONTROL, solved(root, assignment), assignment=assignment)
    start = time.time()
    summaries = []
    for assignment in ASSIGNMENTS:
        # short limits, so that the cases that hang cost seconds, not minutes
        limits = {"Execute": {"timeout": TIMEOUTS.get(assignment, TIMEOUT)}}
        summaries.append(autograde(root, [assignment], jobs=2, progress=False, force=True,
                                   overrides=limits))
    return Graded(root, summaries, time.time() - start)


def describe(rec: records.Result) -> str:
    scores = {t.grade_id: f"{t.score}/{t.points}" for t in rec.tests}
    return (f"status={rec.status} failure={rec.failure!r}\n  flags={rec.flags}\n"
            f"  scores={scores}\n  messages={ {t.grade_id: t.message for t in rec.tests} }")


def check(rec: records.Result | None, want: Expect) -> None:
    assert rec is not None, "no record: the submission was not graded at all"
    seen = describe(rec)
    assert rec.status == want.status, f"status {rec.status}, expected {want.status}\n{seen}"
    if rec.failure is not None:
        assert "\n" not in rec.failure, f"the failure must be one line\n{seen}"
    if want.failure is not None:
        assert want.failure in (rec.failure or ""), f"failure lacks {want.failure!r}\n{seen}"
    if want.scores is not None:
        assert rec.tests, f"no test was scored\n{seen}"
        exact = {} if want.scores == FULL else want.scores
        unknown = set(exact) - {t.grade_id for t in rec.tests}
        assert not unknown, f"no such tests: {sorted(unknown)}\n{seen}"
        got = {t.grade_id: t.score for t in rec.tests}
        expected = {t.grade_id: exact.get(t.grade_id, t.points) for t in rec.tests}
        assert got == expected, f"scores differ from {expected}\n{seen}"
    for flag in want.flags:
        assert any(flag in f for f in rec.flags), f"no flag contains {flag!r}\n{seen}"
    messages = {t.grade_id: t.message or "" for t in rec.tests}
    for gid, text in want.messages.items():
        assert text in messages.get(gid, ""), f"{gid}'s message lacks {text!r}\n{seen}"


@pytest.mark.parametrize("slug", list(CASES))
def test_case(graded, slug):
    check(records.load(graded.root, assignment_of(CASES[slug]), slug), CASES[slug].EXPECT)
    if hasattr(CASES[slug], "after"):  # what else the case must have left as it was
        CASES[slug].after(graded.root, slug)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_control_submission_gets_full_marks(graded, assignment):
    rec = records.load(graded.root, assignment, CONTROL)
    check(rec, Expect("graded", scores=FULL))
    assert rec.score == rec.max_score > 0 and not rec.flags, describe(rec)
    # what the grading guard cost is measured and kept: every test cell was guarded
    cost = rec.guard.get(assignment, {})
    assert cost.get("cells", 0) >= len(rec.tests) and cost["calls"] >= 2 * len(rec.tests), cost
    assert 0 < cost["kernel_ms_mean"] <= cost["kernel_ms_max"], cost


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_gradebook_is_intact(graded, assignment):
    from nbgrader.api import Gradebook

    db = graded.root / "grading" / "gradebook.db"
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    mine = [(slug, case) for slug, case in CASES.items() if assignment_of(case) == assignment]
    want = {slug for slug, case in mine if case.EXPECT.in_gradebook} | {CONTROL}
    # students graded later by a case's after(), if it has run
    extras = {extra for _, case in mine for extra in getattr(case, "EXTRA_STUDENTS", [])}
    with Gradebook("sqlite:///" + str(db)) as gb:
        subs = gb.assignment_submissions(assignment)
        rows = sorted(s.student_id for s in subs if s.student_id not in extras)
        max_scores = {s.max_score for s in subs}
    assert rows == sorted(want), "one submission row per student expected in the gradebook"
    control = records.load(graded.root, assignment, CONTROL)
    assert max_scores == {control.max_score}, "every submission has the assignment's max score"
    # a graded submission's scores in the gradebook are those of its record
    scores = course.read_scores(assignment, graded.root)
    for rec in (r for summary in graded.summaries for r in summary.graded):
        if rec.assignment == assignment:
            assert scores[rec.student] == {t.grade_id: t.score for t in rec.tests}, rec.student


def test_each_case_file_is_complete():
    for slug, case in CASES.items():
        doc = (case.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"{slug}: the docstring must be one line"
        assert case.KIND in KINDS, f"{slug}: KIND {case.KIND!r} is not one of {KINDS}"
        assert case.ATTACK.strip() and case.OUTCOME.strip(), f"{slug}: ATTACK and OUTCOME"
        assert isinstance(case.EXPECT, Expect) and callable(case.submit), slug
        assert case.EXPECT.status in (records.GRADED, records.FAILED), slug
        if case.EXPECT.status == records.FAILED:
            assert case.EXPECT.scores is None, f"{slug}: a failed submission has no scores"


def test_the_readme_table_is_generated_from_the_cases():
    assert table.in_readme() == table.markdown(), (
        "README.md's table is out of date: run python tests/hostile/table.py --write")
