"""An answer cell that blocks the kernel with a long time.sleep."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Timeouts"
ATTACK = "The `make_breakfast` cell calls `time.sleep(1000)` at top level."
OUTCOME = ("Stopped after the cell time limit: that exercise scores 0, the rest full marks; "
           "the report says \"blocking call such as time.sleep?\".")
EXPECT = Expect("graded", scores={"test_make_breakfast": 0.0},
                flags=["cell 'make_breakfast' did not finish in",
                       "a blocking call such as time.sleep?"],
                messages={"test_make_breakfast": "AnswerDidNotRun: "
                                          "the answer cell 'make_breakfast' did not finish in"})


def submit(root: Path, student: str) -> None:
    answer = "import time\n\ntime.sleep(1000)\n\n" + solution(root, "make_breakfast")
    write(root, student, answered(root, make_breakfast=answer))
