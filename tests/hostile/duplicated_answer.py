"""The download_all answer cell twice: a right copy first, a wrong copy last."""

import copy
from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, cell_of, write

KIND = "Structure"
ATTACK = "The answer cell of `download_all` duplicated: the right answer, then a wrong copy."
OUTCOME = "The last copy is graded, as nbgrader does, and the duplicate is reported."
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["answer cell 'download_all' appears 2 times: the last copy was graded"])


def submit(root: Path, student: str) -> None:
    nb = answered(root)
    right = cell_of(nb, "download_all")
    wrong = copy.deepcopy(right)
    wrong.source = SEQUENTIAL
    nb.cells.insert(nb.cells.index(right) + 1, wrong)
    write(root, student, nb)
