"""The solved notebook of another assignment, saved under this assignment's name."""

from pathlib import Path

import nbformat
from _build import Expect, write

KIND = "Broken input"
ATTACK = ("The instructor's notebook of `02_event_loop` (answers and all) handed in as "
          "`01_coroutines.ipynb`.")
OUTCOME = ("Graded as this assignment's release with no answers found: every test scores 0; "
           "the report asks whether it is another assignment's notebook.")
EXPECT = Expect("graded", scores={"test_brew_coffee": 0.0, "test_make_breakfast": 0.0,
                                  "test_download_all": 0.0, "test_prediction": 0.0},
                flags=["is it the notebook of another assignment?"])


def submit(root: Path, student: str) -> None:
    other = root / "solutions" / "02_event_loop" / "02_event_loop.ipynb"
    write(root, student, nbformat.read(other, as_version=4))
