"""An answer cell replaces the course's checking functions with no-ops."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("With a sequential `download_all`, the answer cell replaces `expect_loop_time` and "
          "`expect_clean` (the notebook's names and `asynclab.testing`'s) with no-ops.")
OUTCOME = ("The course's names and asynclab's functions are put back before the test: the "
           "wrong answer scores 0; reported.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["the grader undid changes the answers made to:",
                       "the course's name `expect_loop_time`"])

ANSWER = """import asynclab.testing

asynclab.testing.expect_loop_time = asynclab.testing.expect_clean = lambda *a, **k: None
expect_loop_time = expect_clean = lambda *a, **k: None

""" + SEQUENTIAL


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
