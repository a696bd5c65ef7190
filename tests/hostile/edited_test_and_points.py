"""A test cell replaced by `pass` and its points raised to 100."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, cell_of, write

KIND = "Structure"
ATTACK = ("The test of `download_all` replaced by `pass`, its points set to 100 and the "
          "answer cell marked as a graded cell, with a wrong answer.")
OUTCOME = ("The course's test, points and cell metadata are used: the wrong answer scores 0 "
           "of 5; the edits are reported.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["test cell 'test_download_all' was edited: the course's was run",
                       "the grading metadata of answer cell 'download_all' was edited"])


def submit(root: Path, student: str) -> None:
    nb = answered(root, download_all=SEQUENTIAL)
    test = cell_of(nb, "test_download_all")
    test.source = "pass"
    test.metadata["nbgrader"]["points"] = 100
    cell_of(nb, "download_all").metadata["nbgrader"].update(grade=True, points=50)
    write(root, student, nb)
