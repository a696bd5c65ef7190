"""An answer cell loosens expect_loop_time's tolerance through its keyword defaults."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("With a sequential `download_all`, the answer cell sets "
          "`expect_loop_time.__kwdefaults__[\"tol\"] = 10` in place, so any loop time passes.")
OUTCOME = ("The guard keeps a copy of every function's defaults and keyword defaults: they are "
           "put back before the test, the wrong answer scores 0; reported.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["asynclab.testing.expect_loop_time.__kwdefaults__",
                       "may change a function in place"],
                messages={"test_download_all": "took 0.6 s of loop time; expected 0.3 s"})

ANSWER = """expect_loop_time.__kwdefaults__["tol"] = 10.0

""" + SEQUENTIAL


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
