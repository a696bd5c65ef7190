"""The release gate: notebooks/ is exactly what solutions/ generates, leaks nothing,
and grades right with the real nbgrader (solved: full marks, untouched: zero)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import (
    SOLVED,
    UNTOUCHED,
    right_answers,
    right_rounds,
    right_student,
    wrong_answers,
    wrong_rounds,
    wrong_student,
)

from grader import course

ROOT = course.ROOT
# Each assignment's tests run on one xdist worker (`--dist loadgroup`), so that its
# session fixtures release and grade it once.
ASSIGNMENTS = [pytest.param(aid, marks=pytest.mark.xdist_group(aid), id=aid)
               for aid in course.assignments()]
MARKERS = course.SOLUTION_MARKERS + course.HIDDEN_MARKERS


def test_course_has_assignments():
    assert course.assignments(), "solutions/ holds no assignment folders (NN_topic)"
    for aid in course.assignments():
        assert course.source_notebook(aid).is_file(), f"solutions/{aid}/{aid}.ipynb is missing"


def comparable(nb) -> list[dict]:
    """The fields of a notebook that a release must reproduce exactly."""
    keep = ("nbgrader", "editable", "deletable", "tags")
    cells = [
        {
            "cell_type": c.cell_type,
            "id": c.get("id"),
            "source": c.source,
            "metadata": {k: c.metadata[k] for k in keep if k in c.metadata},
        }
        for c in nb.cells
    ]
    return [{"kernelspec": nb.metadata.get("kernelspec")}] + cells


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_equals_fresh_generation(aid, fresh_course):
    committed = course.release_notebook(aid)
    assert committed.is_file(), (
        f"notebooks/{aid}/{aid}.ipynb is missing: run `make release` and commit notebooks/.")
    fresh = nbformat.read(fresh_course.release(aid), as_version=4)
    mine = nbformat.read(committed, as_version=4)
    want, got = comparable(fresh), comparable(mine)
    if want != got:
        where = next((i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
                     min(len(want), len(got)))
        pytest.fail(
            f"notebooks/{aid}/{aid}.ipynb differs from a fresh `nbgrader generate_assignment` "
            f"of solutions/{aid} (first difference at cell {where - 1}). Never edit notebooks/ "
            f"by hand: edit solutions/, run `make release` and commit notebooks/.")


def secret_lines(nb) -> set[str]:
    """Lines that appear only inside solution or hidden-test regions of a source notebook."""
    secret, public = set(), set()
    for cell in nb.cells:
        meta = course.nbgrader_meta(cell)
        has_markers = any(m in cell.source for m in MARKERS)
        inside = bool(meta.get("solution")) and not has_markers
        for line in cell.source.splitlines():
            s = line.strip()
            if s in (course.SOLUTION_MARKERS[0], course.HIDDEN_MARKERS[0]):
                inside = True
            elif s in (course.SOLUTION_MARKERS[1], course.HIDDEN_MARKERS[1]):
                inside = False
            else:
                (secret if inside else public).add(s)
    return {s for s in secret - public if len(s) >= 6}


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_leaks_no_solution_or_hidden_test(aid):
    source = nbformat.read(course.source_notebook(aid), as_version=4)
    release = nbformat.read(course.release_notebook(aid), as_version=4)
    secrets = secret_lines(source)
    leaks = []
    for i, cell in enumerate(release.cells):
        for line in cell.source.splitlines():
            s = line.strip()
            if s in secrets or any(m in s for m in MARKERS):
                leaks.append(f"cell {i}: {s}")
    assert not leaks, f"notebooks/{aid} shows solution or hidden-test text:\n" + "\n".join(leaks)


def all_notebooks() -> list[Path]:
    return sorted(p for d in (course.SOURCE, course.RELEASE) for p in (ROOT / d).glob("*/*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_outputs_committed(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"])
             if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, (f"{path.relative_to(ROOT)} has outputs or execution counts in cells "
                       f"{dirty}: strip them (nbstripout) before committing.")


def test_ruff_clean_on_code_and_notebooks():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"ruff found problems:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_nbgrader_validate_passes_on_solution(aid, fresh_course):
    proc = course.nbgrader("validate", str(course.source_notebook(aid, fresh_course.root)),
                           root=fresh_course.root, check=False)
    assert "Success! Your notebook passes all the tests." in proc.stdout, (
        f"nbgrader validate fails on solutions/{aid}:\n{proc.stdout}{proc.stderr}")


def grade_cells(aid) -> dict[str, float]:
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    return {gid: pts for tests in course.exercises(nb).values() for gid, pts in tests}


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_solved_release_scores_full_marks_without_stderr(aid, graded_course):
    expected = grade_cells(aid)
    assert expected, f"{aid} has no graded test cells"
    got = graded_course.scores(aid)[SOLVED]
    nb = graded_course.autograded(aid, SOLVED)
    noisy = {course.nbgrader_meta(c)["grade_id"]: o.text[:300] for c in nb.cells
             if course.nbgrader_meta(c).get("grade") and c.cell_type == "code"
             for o in c.outputs if o.get("name") == "stderr"}
    assert not noisy, (f"graded cells of the {aid} solution write to stderr, which nbgrader "
                       f"scores 0: {noisy}")
    # the grading guard keeps the points of a passing test that writes to stderr and
    # reports it; a correct answer must not need that, nor trip any other guard report
    reports = graded_course.warnings(aid, SOLVED)
    assert not reports, f"grading the {aid} solution reports problems:\n" + "\n".join(reports)
    lost = {g: (got.get(g), pts) for g, pts in expected.items() if got.get(g) != pts}
    assert not lost, (f"the solution of {aid} loses points (cell: (score, max)): {lost}\n"
                      + graded_course.logs[aid][-3000:])


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_untouched_release_scores_zero_on_every_test(aid, graded_course):
    got = graded_course.scores(aid)[UNTOUCHED]
    scored = {g: s for g, s in got.items() if s}
    assert set(got) == set(grade_cells(aid)), f"{aid}: not every test cell was graded: {got}"
    assert not scored, f"the untouched {aid} release earns points on {scored}"


def wrong_cases():
    return [pytest.param(aid, cell, name, marks=pytest.mark.xdist_group(aid),
                         id=f"{aid}-{cell}-{name}")
            for aid in course.assignments()
            for cell, variants in wrong_answers(aid).items() for name in variants]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_exercise_has_a_typical_wrong_answer(aid):
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    graded = {cell for cell, tests in course.exercises(nb).items() if tests}
    missing = graded - set(wrong_answers(aid))
    assert not missing, f"{aid}: add typical wrong answers in tests/wrong_answers/ for {missing}"
    unknown = set(wrong_answers(aid)) - set(course.exercises(nb))
    assert not unknown, f"{aid}: tests/wrong_answers/ names unknown answer cells {unknown}"
    unknown = set(right_answers(aid)) - set(course.exercises(nb))
    assert not unknown, f"{aid}: tests/right_answers/ names unknown answer cells {unknown}"


@pytest.mark.parametrize(("aid", "cell", "name"), wrong_cases())
def test_typical_wrong_answer_scores_zero_on_its_exercise(aid, cell, name, graded_course):
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    exercises = course.exercises(nb)
    student = wrong_student(aid, cell, name)
    got = graded_course.scores(aid)[student]
    own = {g: got.get(g) for g, _ in exercises[cell]}
    assert not any(own.values()), f"{aid}: the wrong answer '{name}' for {cell} earns {own}"
    # The exercises that kept the solution in this submission keep their full marks.
    same_round = next(r for r in wrong_rounds(aid) if r.get(cell) == name)
    others = {g: (got.get(g), pts) for c, tests in exercises.items() if c not in same_round
              for g, pts in tests if got.get(g) != pts}
    assert not others, (f"{aid}: in submission {student} (wrong answers {same_round}), "
                        f"exercises answered with the solution lose points: {others}")


def right_cases():
    return [pytest.param(aid, cell, name, marks=pytest.mark.xdist_group(aid),
                         id=f"{aid}-{cell}-{name}")
            for aid in course.assignments()
            for cell, variants in right_answers(aid).items() for name in variants]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_other_correct_answers_name_known_cells(aid):
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    unknown = set(right_answers(aid)) - set(course.exercises(nb))
    assert not unknown, f"{aid}: tests/right_answers/ names unknown answer cells {unknown}"


@pytest.mark.parametrize(("aid", "cell", "name"), right_cases())
def test_other_right_answer_scores_full_marks(aid, cell, name, graded_course):
    """Right answers written otherwise than the instructor's (helpers bound early, another
    tool that does the job) keep every point, without stderr or grading reports."""
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    student = right_student(aid, cell, name)
    got = graded_course.scores(aid)[student]
    lost = {g: (got.get(g), pts) for tests in course.exercises(nb).values()
            for g, pts in tests if got.get(g) != pts}
    same_round = next(r for r in right_rounds(aid) if r.get(cell) == name)
    assert not lost, (f"{aid}: submission {student} (right answers {same_round}) loses points "
                      f"(cell: (score, max)): {lost}")
    reports = graded_course.warnings(aid, student)
    assert not reports, f"grading {student} of {aid} reports problems:\n" + "\n".join(reports)
