"""An empty file (0 bytes) under the notebook's name."""

from pathlib import Path

from _build import Expect, write

KIND = "Broken input"
ATTACK = "An empty file (0 bytes) with the notebook's name."
OUTCOME = "Fails before nbgrader reads it: the file is named and said to be empty (0 bytes)."
EXPECT = Expect("failed", failure="01_coroutines.ipynb cannot be graded: it is empty (0 bytes)")


def submit(root: Path, student: str) -> None:
    write(root, student, b"")
