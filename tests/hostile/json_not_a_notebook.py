"""Valid JSON that only looks like a notebook: {"cells": 5}."""

from pathlib import Path

from _build import Expect, write

KIND = "Broken input"
ATTACK = 'Valid JSON that is not a notebook: `{"cells": 5}`.'
OUTCOME = ("Fails before nbgrader reads it: valid JSON but not a notebook, with what is missing "
           '(here the "nbformat" version).')
EXPECT = Expect("failed", failure='cannot be graded: it is valid JSON but not a notebook '
                                  '(it has no "nbformat" version)')


def submit(root: Path, student: str) -> None:
    write(root, student, '{"cells": 5}')
