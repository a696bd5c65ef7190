"""Where every student of the class stands on every assignment: one answer, read by the
grades CSV and the class report alike, so that nobody vanishes and the counts agree.

A student is in the class if the gradebook knows them (a roster import, a graded
submission), if they have a grading record, a submission folder, or files that collect
refused. For each assignment shown, each student is in exactly one state:

``graded``          in the gradebook with grades (late penalty included);
``failed``          grading was tried and failed (its record says why);
``pending``         submitted, not graded yet;
``refused``         collect refused every file they sent (renamed, not a notebook...);
``missing``         nothing submitted.

Assignments shown are those with anything submitted, graded or refused, unless
``include_all`` (then every assignment of the gradebook).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import collect, nbgrader_app, records
from .gradebook import with_busy_timeout

GRADED, FAILED, PENDING, REFUSED, MISSING = "graded", "failed", "pending", "refused", "missing"
STATES = (GRADED, FAILED, PENDING, REFUSED, MISSING)


@dataclass
class Standing:
    assignment: str
    student: str
    state: str
    reason: str = ""
    raw_score: float = 0.0
    penalty: float = 0.0
    max_score: float = 0.0
    timestamp: datetime | None = None

    @property
    def score(self) -> float:
        return max(0.0, self.raw_score - self.penalty)


@dataclass
class Person:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


@dataclass
class Assignment:
    name: str
    duedate: datetime | None
    max_score: float


@dataclass
class Class:
    assignments: list[Assignment]
    students: list[Person]
    standings: dict[tuple[str, str], Standing]  # (assignment, student) -> where they stand

    def of(self, assignment: str, state: str | None = None) -> list[Standing]:
        out = [self.standings[(assignment, p.id)] for p in self.students]
        return [s for s in out if state is None or s.state == state]


def _points(value: float) -> str:
    return f"{value:g}"


def _submitted(root: Path, nbg) -> set[tuple[str, str]]:
    """(assignment, student) of every submission folder holding a file."""
    found = set()
    for folder in sorted((root / nbg.coursedir.submitted_directory).glob("*/*")):
        if folder.is_dir() and any(p.is_file() for p in folder.iterdir()):
            found.add((folder.name, folder.parent.name))
    return found


def load(root: Path, include_all: bool = False) -> Class:
    """Where every student stands on every assignment shown (see the module docstring)."""
    from nbgrader.api import Gradebook

    root = Path(root).resolve()
    nbg = nbgrader_app.load(root)
    recs = {r.key: r for r in records.load_all(root)}
    submitted = _submitted(root, nbg)
    people: dict[str, Person] = {}
    subs: dict[tuple[str, str], tuple[float, float, datetime | None]] = {}
    with Gradebook(with_busy_timeout(nbg.db_url), nbg.course_id) as gb:
        for s in gb.students:
            people[s.id] = Person(s.id, s.first_name or "", s.last_name or "", s.email or "")
        assignments = [Assignment(a.name, a.duedate, float(a.max_score or 0))
                       for a in gb.assignments]
        for a in assignments:
            for sub in gb.assignment_submissions(a.name):
                subs[(a.name, sub.student_id)] = (float(sub.score or 0),
                                                  float(sub.late_submission_penalty or 0),
                                                  sub.timestamp)
    names = {a.name for a in assignments}
    refusals = {(a, s): why for a in sorted(names | {k[0] for k in recs} | {k[0] for k in submitted})
                for s, why in collect.load_refusals(root, a).items()}
    active = {k[0] for k in (*subs, *recs, *submitted, *refusals)}
    for key in (*recs, *submitted, *refusals):
        people.setdefault(key[1], Person(key[1]))
    assignments += [Assignment(name, None, 0.0) for name in sorted(active - names)]
    shown = [a for a in assignments if include_all or a.name in active]
    shown.sort(key=lambda a: a.name)
    standings = {}
    for a in shown:
        for sid in people:
            standings[(a.name, sid)] = _stand(a, sid, subs.get((a.name, sid)),
                                             recs.get((a.name, sid)),
                                             (a.name, sid) in submitted,
                                             refusals.get((a.name, sid), []))
    return Class(shown, sorted(people.values(), key=lambda p: p.id), standings)


def _stand(a: Assignment, student: str, sub, rec: records.Result | None, submitted: bool,
           refused: list[str]) -> Standing:
    st = Standing(a.name, student, MISSING, "not submitted", max_score=a.max_score)
    if sub is not None:
        st.raw_score, st.penalty, st.timestamp = sub
    if rec is not None and rec.status != records.GRADED:
        st.state, st.reason = FAILED, f"could not be graded: {rec.failure or 'unknown'}"
    elif sub is not None:
        st.state, st.reason = GRADED, ""
        late = (st.timestamp - a.duedate).total_seconds() if st.timestamp and a.duedate else 0
        if late > 0:
            st.reason = f"late ({_late(late)}): -{_points(st.penalty)} points"
    elif submitted:
        st.state, st.reason = PENDING, "submitted, not graded yet"
    elif refused:
        st.state, st.reason = REFUSED, "; ".join(refused)
        return st
    if refused and st.state != MISSING:
        st.reason = "; ".join(filter(None, [st.reason, "also " + "; ".join(refused)]))
    return st


def _late(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


CSV_FIELDS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
              "email", "raw_score", "late_submission_penalty", "score", "max_score", "reason"]


def csv_rows(cls: Class) -> list[dict[str, str]]:
    """nbgrader's grades CSV columns (``nbgrader export``) plus ``reason``: one row per
    student and assignment shown."""
    rows = []
    for a in cls.assignments:
        for p in cls.students:
            st = cls.standings[(a.name, p.id)]
            rows.append({
                "assignment": a.name, "duedate": _str(a.duedate), "timestamp": _str(st.timestamp),
                "student_id": p.id, "last_name": p.last_name, "first_name": p.first_name,
                "email": p.email, "raw_score": str(st.raw_score),
                "late_submission_penalty": str(st.penalty), "score": str(st.score),
                "max_score": str(a.max_score), "reason": st.reason,
            })
    return rows


def _str(value) -> str:
    return "" if value is None else str(value)

