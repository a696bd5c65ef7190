"""A notebook cut short: the first half of a solved notebook's JSON."""

from pathlib import Path

import nbformat
from _build import Expect, solved, write

KIND = "Broken input"
ATTACK = "A notebook cut short halfway through its JSON, as an interrupted upload leaves it."
OUTCOME = ("Fails before nbgrader reads it, naming the file: not valid JSON, it ends too early "
           "(cut short?); nothing is written to the gradebook.")
EXPECT = Expect("failed", failure="01_coroutines.ipynb cannot be graded: it is not valid JSON: "
                                  "it ends too early, after line")


def submit(root: Path, student: str) -> None:
    text = nbformat.writes(solved(root))
    write(root, student, text[: len(text) // 2])
