"""An answer cell gives expect_loop_time the code of a no-op, in place."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("With a sequential `download_all`, the answer cell replaces the `__code__` of "
          "`asynclab.testing.expect_loop_time` (the function the notebook's name points to) "
          "with a no-op's: the function object stays the same.")
OUTCOME = ("The guard compares each function's code, not only its identity: the code is put "
           "back before the test, the wrong answer scores 0; reported.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["the grader undid changes the answers made to: "
                       "asynclab.testing.expect_loop_time.__code__",
                       "may change a function in place"],
                messages={"test_download_all": "took 0.6 s of loop time; expected 0.3 s"})

ANSWER = """import asynclab.testing


def _no_check(run, expected, *, call=None, hint="", tol=1e-3):
    return None


asynclab.testing.expect_loop_time.__code__ = _no_check.__code__
expect_loop_time.__code__ = _no_check.__code__

""" + SEQUENTIAL


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
