"""Cells moved: the last exercise first, a test cell above its answer."""

from pathlib import Path

from _build import Expect, answered, cell_of, write

KIND = "Structure"
ATTACK = ("Cells moved around: the prediction exercise moved to the top and a test cell put "
          "above the answer it tests.")
OUTCOME = "Graded in the course's order: a right answer keeps full marks; the move is reported."
EXPECT = Expect("graded", scores="full", flags=["cells were moved: graded in the course's order"])


def submit(root: Path, student: str) -> None:
    nb = answered(root)
    for gid in ("prediction", "test_brew_coffee"):
        cell = cell_of(nb, gid)
        nb.cells.remove(cell)
        nb.cells.insert(1, cell)
    write(root, student, nb)
