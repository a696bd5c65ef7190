"""An answer cell starts a thread that keeps putting a no-op in place of expect_loop_time."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("With a sequential `download_all`, the answer cell starts a daemon thread that, every "
          "millisecond, puts a no-op in place of `expect_loop_time` (the notebook's name and "
          "asynclab's), so that it is back right after the guard restores it.")
OUTCOME = ("Before each test the guard stops the threads the answers left running: the wrong "
           "answer scores 0, the right answers after it keep their points; the thread is named "
           "in the report.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["the grader stopped what the answers left running: thread 'Thread-",
                       "(_keep_patching)', running _keep_patching() in the notebook"],
                messages={"test_download_all": "took 0.6 s of loop time; expected 0.3 s"})

ANSWER = """import threading
import time

import asynclab.testing


def _keep_patching():
    def no_check(*args, **kwargs):
        return None

    while True:
        asynclab.testing.expect_loop_time = no_check
        globals()["expect_loop_time"] = no_check
        time.sleep(0.001)


threading.Thread(target=_keep_patching, daemon=True).start()

""" + SEQUENTIAL


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
