"""An answer cell that prints 100 MB."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Resources"
ATTACK = "The `brew_coffee` cell prints 100 MB of text."
OUTCOME = ("Output past 2 million characters per cell is dropped: the right answer keeps full "
           "marks, the graded notebook stays small; reported.")
EXPECT = Expect("graded", scores="full", flags=["cell 'brew_coffee' printed more than"])


def submit(root: Path, student: str) -> None:
    answer = 'print("x" * 100_000_000)\n\n' + solution(root, "brew_coffee")
    write(root, student, answered(root, brew_coffee=answer))


def after(root: Path, student: str) -> None:
    graded = root / "grading" / "autograded" / student / "01_coroutines" / "01_coroutines.ipynb"
    assert graded.stat().st_size < 5_000_000, f"the graded notebook is {graded.stat().st_size} bytes"
