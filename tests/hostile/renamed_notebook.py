"""A solved notebook saved under another name: 01_coroutines (1).ipynb."""

from pathlib import Path

from _build import Expect, solved, write

KIND = "Broken input"
ATTACK = "A solved notebook under another name, `01_coroutines (1).ipynb`, as a browser saves a copy."
OUTCOME = ("Not graded; the message names the file found and the one expected (nbgrader keeps "
           "the student's row, as plain `nbgrader autograde` does).")
EXPECT = Expect("failed", failure="no notebook with the expected name in grading/submitted/"
                                  "renamed_notebook/01_coroutines/ (found 01_coroutines (1).ipynb; "
                                  "expected 01_coroutines.ipynb)",
                gradebook=True)


def submit(root: Path, student: str) -> None:
    write(root, student, solved(root), name="01_coroutines (1).ipynb")
