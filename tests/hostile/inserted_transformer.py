"""An inserted cell installs an IPython input transformer that empties every later cell."""

from pathlib import Path

import nbformat
from _build import SEQUENTIAL, Expect, answered

KIND = "Structure"
ATTACK = ("A code cell added after the setup installs an input transformer that turns every "
          "later cell (the tests) into `pass`, with a sequential `download_all`.")
OUTCOME = ("Added cells are not run (grading runs the released notebook with the answers in "
           "it): the wrong answer scores 0, the rest full marks; the cell is reported.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["1 code cell(s) added by the student", "reach into IPython"],
                messages={"test_download_all": "AssertionError"})


def submit(root: Path, student: str) -> None:
    from _build import write

    nb = answered(root, download_all=SEQUENTIAL)
    nb.cells.insert(2, nbformat.v4.new_code_cell(
        "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])"))
    write(root, student, nb)
