"""An answer cell that forks without end."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Resources"
ATTACK = "The `make_breakfast` cell runs `while True: os.fork()`: a fork bomb."
OUTCOME = ("The process limit stops it and the grader kills the kernel's processes: that "
           "exercise scores 0, the kernel is restarted and the rest graded; reported.")
EXPECT = Expect("graded", scores={"test_make_breakfast": 0.0},
                flags=["make_breakfast", "start processes"],
                messages={"test_make_breakfast": "AnswerDidNotRun: "
                                          "the answer cell 'make_breakfast'"})


def submit(root: Path, student: str) -> None:
    answer = "import os\n\nwhile True:\n    os.fork()\n\n" + solution(root, "make_breakfast")
    write(root, student, answered(root, make_breakfast=answer))
