"""An answer cell starts a thread that shrugs off being stopped and keeps patching."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("With a sequential `download_all`, the answer cell starts a thread that puts a no-op "
          "in place of `expect_loop_time` every millisecond and catches the `SystemExit` the "
          "guard raises in it, so it cannot be stopped.")
OUTCOME = ("No test counts while it runs (fail-closed): from that exercise on, the tests score "
           "0 with a message that names the thread; the exercises before keep their points.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0, "test_prediction": 0.0},
                flags=["could not be stopped: thread 'Thread-"],
                messages={"test_download_all": "GradingGuardError: a thread started by the "
                                               "answers was still running and could not be "
                                               "stopped, so the test cannot be trusted: thread "
                                               "'Thread-",
                          "test_prediction": "(_keep_patching)', running _keep_patching() in "
                                             "the notebook"})

ANSWER = """import threading
import time

import asynclab.testing


def _keep_patching():
    def no_check(*args, **kwargs):
        return None

    while True:
        try:
            asynclab.testing.expect_loop_time = no_check
            globals()["expect_loop_time"] = no_check
            time.sleep(0.001)
        except BaseException:
            pass


threading.Thread(target=_keep_patching, daemon=True).start()

""" + SEQUENTIAL


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
