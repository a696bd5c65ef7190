"""Two test cells deleted from a notebook whose answers are wrong."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, cell_of, write

KIND = "Structure"
ATTACK = "The test cells of `download_all` and `make_breakfast` deleted, with wrong answers."
OUTCOME = "The course's test cells are put back and run: the wrong answers score 0; reported."
EXPECT = Expect("graded", scores={"test_download_all": 0.0, "test_make_breakfast": 0.0},
                flags=["test cell 'test_download_all' was deleted: the course's was put back",
                       "test cell 'test_make_breakfast' was deleted"])


def submit(root: Path, student: str) -> None:
    nb = answered(root, download_all=SEQUENTIAL,
                  make_breakfast="async def make_breakfast(boil, toast):\n"
                                 "    return ['water boiled', 'toast ready']")
    for gid in ("test_download_all", "test_make_breakfast"):
        nb.cells.remove(cell_of(nb, gid))
    write(root, student, nb)
