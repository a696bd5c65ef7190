"""A submission folder without a notebook: only a README.txt."""

from pathlib import Path

from _build import Expect, write

KIND = "Broken input"
ATTACK = "A submission folder holding only a `README.txt`, no notebook."
OUTCOME = "Not graded; the message lists what the folder holds and the notebook expected."
EXPECT = Expect("failed", failure="no notebook in grading/submitted/missing_notebook/01_coroutines/ "
                                  "(found README.txt; expected 01_coroutines.ipynb)")


def submit(root: Path, student: str) -> None:
    write(root, student, "My notebook is attached.\n", name="README.txt")
