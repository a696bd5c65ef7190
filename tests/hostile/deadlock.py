"""An answer cell that awaits an event nobody sets."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Timeouts"
ATTACK = "The `brew_coffee` cell awaits `asyncio.Event().wait()` at top level: a deadlock."
OUTCOME = ("Stopped after the cell time limit, the kernel restarted and the cells before "
           "replayed: that exercise scores 0, the rest full marks; the report says "
           "\"deadlock?\".")
EXPECT = Expect("graded", scores={"test_brew_coffee": 0.0},
                flags=["cell 'brew_coffee' did not finish in", "a deadlock"],
                messages={"test_brew_coffee": "AnswerDidNotRun: "
                                          "the answer cell 'brew_coffee' did not finish in"})


def submit(root: Path, student: str) -> None:
    answer = "await asyncio.Event().wait()\n\n" + solution(root, "brew_coffee")
    write(root, student, answered(root, brew_coffee=answer))
