"""A wrong answer whose feedback page must not show the hidden tests."""

import html
from pathlib import Path

import nbformat
from _build import ASSIGNMENT, SEQUENTIAL, Expect, answered, cell_of, write

from grader.__main__ import main
from grader.feedback import hidden_lines

KIND = "Feedback"
ATTACK = ("A sequential `download_all`, whose failing hidden test a student could read in "
          "plain nbgrader's feedback.")
OUTCOME = ("The feedback page shows why the test failed and the visible test, never a line "
           "of the hidden tests.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                messages={"test_download_all": "AssertionError"})


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=SEQUENTIAL))


def after(root: Path, student: str) -> None:
    assert main(["feedback", ASSIGNMENT, "--course", str(root), "--student", student]) == 0
    page = (root / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html")
    text = page.read_text()
    source = nbformat.read(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    secret = hidden_lines(cell_of(source, "test_download_all").source,
                          "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    assert secret, "the test has hidden lines to hide"
    shown = [line for line in secret if html.escape(line.strip()) in text]
    assert not shown, f"the feedback page shows hidden test lines: {shown}"
    assert "took" in text and "loop time" in text, "the failure message is shown"
