"""Shared fixtures: a graded copy of the whole course, built once per test session.

The fixture ``graded_course`` copies the course into a temporary folder, releases every
assignment with the real ``nbgrader generate_assignment``, submits for each assignment
the release with the solutions filled in, the untouched release and every typical wrong
answer listed in ``tests/wrong_answers/``, then grades them all with the real
``nbgrader autograde``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from grader import course

HERE = Path(__file__).resolve().parent
WRONG_DIR = HERE / "wrong_answers"

SOLVED = "solved"
UNTOUCHED = "untouched"


def wrong_answers(assignment: str) -> dict[str, dict[str, str]]:
    """solution cell id -> {name: wrong source} for one assignment (may be empty)."""
    path = WRONG_DIR / f"{assignment}.py"
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"wrong_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WRONG


def wrong_student(cell: str, name: str) -> str:
    return f"wrong__{cell}__{name}"


@dataclass
class GradedCourse:
    root: Path
    scores: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    def autograded(self, assignment: str, student: str):
        path = (self.root / "grading" / "autograded" / student / assignment
                / f"{assignment}.ipynb")
        return nbformat.read(path, as_version=4)


@pytest.fixture(scope="session")
def fresh_course(tmp_path_factory) -> Path:
    """A copy of the course whose notebooks/ was generated afresh from solutions/."""
    root = course.copy_course(tmp_path_factory.mktemp("course"), with_release=False)
    course.release(root=root)
    return root


@pytest.fixture(scope="session")
def graded_course(fresh_course) -> GradedCourse:
    root = fresh_course
    result = GradedCourse(root=root)
    for aid in course.assignments(root):
        released = nbformat.read(course.release_notebook(aid, root), as_version=4)
        solutions = course.solution_answers(aid, root)
        course.submit(root, aid, SOLVED, course.fill_answers(released, solutions))
        course.submit(root, aid, UNTOUCHED, released)
        for cell, variants in wrong_answers(aid).items():
            for name, source in variants.items():
                answers = dict(solutions, **{cell: source})
                course.submit(root, aid, wrong_student(cell, name),
                              course.fill_answers(released, answers))
        proc = course.nbgrader("autograde", aid, root=root, check=False)
        result.logs[aid] = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"nbgrader autograde {aid} crashed:\n{result.logs[aid]}"
        result.scores[aid] = course.read_scores(aid, root)
    return result
