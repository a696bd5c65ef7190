"""A solved notebook saved in the old nbformat 3."""

from pathlib import Path

import nbformat
from _build import FULL, Expect, solved, write

KIND = "Broken input"
ATTACK = "A solved notebook in the old nbformat 3 (worksheets, as Jupyter wrote before 2015)."
OUTCOME = ("nbformat converts it to nbformat 4, as Jupyter does when it opens it, and it is "
           "graded like any other: full marks.")
EXPECT = Expect("graded", scores=FULL)


def submit(root: Path, student: str) -> None:
    old = nbformat.convert(solved(root), 3)
    write(root, student, nbformat.writes(old, version=3))
