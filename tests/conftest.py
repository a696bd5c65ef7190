"""Shared fixtures: a graded copy of the whole course, built once per test session.

``fresh_course`` copies the course into a temporary folder and releases assignments there
with the real ``nbgrader generate_assignment``. ``graded_course`` submits, for an
assignment, the release with the solutions filled in, the untouched release, every
typical wrong answer listed in ``tests/wrong_answers/`` and every other right answer listed
in ``tests/right_answers/`` (each grouped into a few submissions, see ``rounds``), then
grades them all with the real ``nbgrader autograde``. Both work one assignment at a time, on
first use.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from grader import course, records

HERE = Path(__file__).resolve().parent
WRONG_DIR = HERE / "wrong_answers"
RIGHT_DIR = HERE / "right_answers"

SOLVED = "solved"
UNTOUCHED = "untouched"
#: Notebooks graded at once per assignment (each mostly waits: timers, the demo server).
GRADING_JOBS = 4


def _answers(folder: Path, attribute: str, assignment: str) -> dict[str, dict[str, str]]:
    path = folder / f"{assignment}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"{attribute.lower()}_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, attribute)


def wrong_answers(assignment: str) -> dict[str, dict[str, str]]:
    """solution cell id -> {name: wrong source} for one assignment (may be empty)."""
    return _answers(WRONG_DIR, "WRONG", assignment)


def right_answers(assignment: str) -> dict[str, dict[str, str]]:
    """solution cell id -> {name: source} of right answers other than the instructor's, such
    as helpers bound early (``functools.partial``, a default argument, ``from x import y``):
    each must score full marks (may be empty)."""
    return _answers(RIGHT_DIR, "RIGHT", assignment)


def rounds(answers: dict[str, dict[str, str]]) -> list[dict[str, str]]:
    """Answer variants grouped into submissions: round k holds the k-th variant of every
    exercise that has one ({solution cell id: variant name}); the other exercises of that
    submission keep the instructor's solution. Exercises do not share answers, so one
    submission tests several variants at once and grading stays fast."""
    grouped: list[dict[str, str]] = []
    for cell, variants in answers.items():
        for k, name in enumerate(variants):
            if k == len(grouped):
                grouped.append({})
            grouped[k][cell] = name
    return grouped


def wrong_rounds(assignment: str) -> list[dict[str, str]]:
    """The wrong answers grouped into submissions (see ``rounds``)."""
    return rounds(wrong_answers(assignment))


def right_rounds(assignment: str) -> list[dict[str, str]]:
    """The other right answers grouped into submissions (see ``rounds``)."""
    return rounds(right_answers(assignment))


def _student(prefix: str, grouped: list[dict[str, str]], assignment: str, cell: str,
             name: str) -> str:
    for k, chosen in enumerate(grouped):
        if chosen.get(cell) == name:
            return f"{prefix}_round_{k + 1}"
    raise KeyError(f"{assignment}: no {prefix} answer {name!r} for {cell!r}")


def wrong_student(assignment: str, cell: str, name: str) -> str:
    """The student id of the submission that holds wrong answer ``name`` of ``cell``."""
    return _student("wrong", wrong_rounds(assignment), assignment, cell, name)


def right_student(assignment: str, cell: str, name: str) -> str:
    """The student id of the submission that holds right answer ``name`` of ``cell``."""
    return _student("right", right_rounds(assignment), assignment, cell, name)


class FreshCourse:
    """A copy of the course whose notebooks/ is generated afresh from solutions/, one
    assignment at a time, on first use."""

    def __init__(self, root: Path):
        self.root = root
        self._released: set[str] = set()

    def release(self, aid: str) -> Path:
        if aid not in self._released:
            course.release([aid], root=self.root)
            self._released.add(aid)
        return course.release_notebook(aid, self.root)


@dataclass
class GradedCourse:
    """A course copy whose assignments are graded on first use (so ``-k 02_event_loop``
    grades only that one)."""

    fresh: FreshCourse
    _scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.fresh.root

    def scores(self, aid: str) -> dict[str, dict[str, float]]:
        """student -> {test cell id: score} for assignment ``aid``."""
        if aid not in self._scores:
            self._grade(aid)
        return self._scores[aid]

    def _grade(self, aid: str) -> None:
        root = self.root
        released = nbformat.read(self.fresh.release(aid), as_version=4)
        solutions = course.solution_answers(aid, root)
        course.submit(root, aid, SOLVED, course.fill_answers(released, solutions))
        course.submit(root, aid, UNTOUCHED, released)
        for prefix, variants in (("wrong", wrong_answers(aid)), ("right", right_answers(aid))):
            for k, chosen in enumerate(rounds(variants)):
                answers = dict(solutions,
                               **{cell: variants[cell][name] for cell, name in chosen.items()})
                course.submit(root, aid, f"{prefix}_round_{k + 1}",
                              course.fill_answers(released, answers))
        # the course's own grader, as an instructor grades a class: sandboxed kernels, several
        # at once (most of a notebook's time is spent waiting on its demo server and timers)
        proc = subprocess.run(
            [sys.executable, "-m", "grader", "autograde", aid, "--course", str(root),
             "--jobs", str(GRADING_JOBS), "--no-progress"],
            cwd=course.ROOT, env=course.nbgrader_env(), capture_output=True, text=True)
        self.logs[aid] = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"grading {aid} failed:\n{self.logs[aid]}"
        self._scores[aid] = course.read_scores(aid, root)

    def warnings(self, aid: str, student: str) -> list[str]:
        """What grading ``student``'s notebook reported: the grader's flags (the guard's
        reports, integrity checks) and nbgrader's warnings, without the "checksum changed"
        notes that every test cell with hidden tests causes."""
        self.scores(aid)
        record = records.load(self.root, aid, student)
        assert record is not None, f"no grading record of {student} for {aid}"
        return [line for line in [*record.flags, *record.warnings]
                if "checksum" not in line and "Removing existing" not in line]

    def autograded(self, aid: str, student: str):
        self.scores(aid)
        path = self.root / "grading" / "autograded" / student / aid / f"{aid}.ipynb"
        return nbformat.read(path, as_version=4)


@pytest.fixture(scope="session")
def fresh_course(tmp_path_factory) -> FreshCourse:
    root = course.copy_course(tmp_path_factory.mktemp("course"), with_release=False)
    return FreshCourse(root)


@pytest.fixture(scope="session")
def graded_course(fresh_course) -> GradedCourse:
    return GradedCourse(fresh_course)
