"""The notebook is a symbolic link to a classmate's solved notebook."""

import os
from pathlib import Path

from _build import NOTEBOOK, Expect, folder, solved, write

KIND = "Broken input"
ATTACK = "The submitted notebook is a symbolic link to another student's solved notebook."
OUTCOME = ("Not read: the message says the file is a symbolic link and where it points; "
           "nothing is written to the gradebook.")
EXPECT = Expect("failed", failure="01_coroutines.ipynb cannot be graded: it is a symbolic link")


def submit(root: Path, student: str) -> None:
    target = write(root, f"{student}_classmate_copy", solved(root)).rename(
        Path(root) / "classmate.ipynb")
    os.symlink(target, folder(root, student) / NOTEBOOK)
    os.rmdir(folder(root, f"{student}_classmate_copy"))
    os.rmdir(Path(root) / "grading" / "submitted" / f"{student}_classmate_copy")
