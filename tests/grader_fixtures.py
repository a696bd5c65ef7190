"""Building blocks for the grader tests: a tiny purpose-built assignment that runs in about
a second, typical submissions of it (right, wrong, untouched, broken...), and a class of
students handing in several assignments."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import course
from grader.release import release

TINY = "90_tiny"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _meta(grade_id: str, *, solution=False, grade=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution,
            "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


DOUBLE = "def double(x):\n    return 2 * x"
FETCH = 'async def fetch(delay):\n    await asyncio.sleep(delay)\n    return f"done {delay}"'
HIDDEN_DOUBLE = 'assert double(21) == 42, f"double(21) should be 42, got {double(21)!r}"'
HIDDEN_FETCH = ('assert asyncio.iscoroutinefunction(fetch), '
                '"fetch must be a coroutine function (async def)"')


def tiny_notebook():
    """Two exercises (2 + 3 points), each with a visible and a hidden test."""
    cells = [
        new_markdown_cell("# 90 · A tiny assignment for the grader's tests"),
        new_code_cell('import asyncio\n\nprint("Setup complete.")'),
        new_markdown_cell("## Exercise 1 · double (2 points)\n\nWrite `double(x)`."),
        new_code_cell(f"### BEGIN SOLUTION\n{DOUBLE}\n### END SOLUTION",
                      metadata=_meta("double", solution=True)),
        new_code_cell('"""double doubles."""\nassert double(2) == 4, "double(2) should be 4"\n'
                      f"### BEGIN HIDDEN TESTS\n{HIDDEN_DOUBLE}\n### END HIDDEN TESTS",
                      metadata=_meta("test_double", grade=True, points=2)),
        new_markdown_cell("## Exercise 2 · fetch (3 points)\n\nWrite a coroutine `fetch(delay)`."),
        new_code_cell(f"### BEGIN SOLUTION\n{FETCH}\n### END SOLUTION",
                      metadata=_meta("fetch", solution=True)),
        new_code_cell('"""fetch waits and reports."""\nresult = await fetch(0.01)\n'
                      'assert result == "done 0.01", f"fetch(0.01) gave {result!r}"\n'
                      f"### BEGIN HIDDEN TESTS\n{HIDDEN_FETCH}\n### END HIDDEN TESTS",
                      metadata=_meta("test_fetch", grade=True, points=3)),
        new_markdown_cell("## Summary\n\nDone."),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def add_tiny_assignment(root: Path, name: str = TINY) -> str:
    """Write the tiny assignment into ``root``'s solutions/ and release it."""
    folder = Path(root) / course.SOURCE / name
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(tiny_notebook(), folder / f"{name}.ipynb")
    release(root, [name])
    return name


# answer cell sources for each kind of submission of the tiny assignment
TINY_CASES: dict[str, dict[str, str] | None] = {
    "solved": {"double": DOUBLE, "fetch": FETCH},
    "untouched": None,
    # passes the visible test (2 + 2 == 4) but not the hidden one
    "wrong_hidden": {"double": "def double(x):\n    return x + 2", "fetch": FETCH},
    # a blocking sleep where a coroutine was asked for: fetch(0.01) is not awaitable
    "not_async": {"double": DOUBLE,
                  "fetch": 'import time\n\ndef fetch(delay):\n    time.sleep(delay)\n'
                           '    return f"done {delay}"'},
    # right answer, but it writes to stderr while the test runs: nbgrader gives 0
    "stderr": {"double": 'import sys\n\ndef double(x):\n    print("debugging", file=sys.stderr)\n'
                         '    return 2 * x', "fetch": FETCH},
    # the kernel dies in an answer cell: the submission cannot be graded
    "crash": {"double": "import os\nos._exit(1)", "fetch": FETCH},
}
SLOW = {"double": "import time\ntime.sleep(30)\n" + DOUBLE, "fetch": FETCH}
TINY_FULL = {"test_double": 2.0, "test_fetch": 3.0}


def submit_case(root: Path, assignment: str, student: str, case: str | None,
                answers: dict[str, str] | None = None) -> Path:
    """Put one typical submission of ``assignment`` in place for ``student``."""
    released = nbformat.read(course.release_notebook(assignment, root), as_version=4)
    if case == "invalid_json":
        dest = Path(root) / "grading" / "submitted" / student / assignment
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / f"{assignment}.ipynb"
        path.write_text(nbformat.writes(released)[:500])  # cut short: not valid JSON
        return path
    if case == "edited_test":
        nb = course.fill_answers(released, TINY_CASES["solved"])
        for cell in nb.cells:
            if course.nbgrader_meta(cell).get("grade_id") == "test_double":
                cell.source = "pass"
        return course.submit(root, assignment, student, nb)
    if answers is None:
        answers = TINY_CASES[case] if case else None
    nb = course.fill_answers(released, answers) if answers else released
    return course.submit(root, assignment, student, nb)


def copy_tree(src: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest, symlinks=True)
    return dest
