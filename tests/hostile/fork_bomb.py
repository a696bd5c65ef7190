"""An answer cell that forks without end."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Resources"
ATTACK = "The `make_breakfast` cell runs `while True: os.fork()`: a fork bomb."
OUTCOME = ("The process limit stops it (the next fork fails, or the grader kills the kernel "
           "once it has too many processes) and the grader stops what is left: that exercise "
           "scores 0, its test says the answer cell did not run, the rest is graded; reported.")
EXPECT = Expect("graded", scores={"test_make_breakfast": 0.0},
                flags=["make_breakfast", "start processes"],
                messages={"test_make_breakfast": "AnswerDidNotRun: "
                                          "the answer cell 'make_breakfast'"})


def submit(root: Path, student: str) -> None:
    answer = "import os\n\nwhile True:\n    os.fork()\n\n" + solution(root, "make_breakfast")
    write(root, student, answered(root, make_breakfast=answer))
