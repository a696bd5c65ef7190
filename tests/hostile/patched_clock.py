"""An answer cell stops the clocks and blocks with time.sleep."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("`brew_coffee` blocks with `time.sleep`, and its cell replaces `time.perf_counter`, "
          "`time.monotonic` and `time.time` with constant clocks to hide it.")
OUTCOME = ("The clocks are put back before each test: the blocking answer scores 0; the "
           "change and the code are reported.")
EXPECT = Expect("graded", scores={"test_brew_coffee": 0.0},
                flags=["the grader undid changes the answers made to: time.", "time.perf_counter",
                       "replace a clock or sleep function"])

ANSWER = """import time

time.perf_counter = time.monotonic = time.time = lambda: 0.0


async def brew_coffee(order, seconds):
    time.sleep(seconds)
    return f"{order} is ready\""""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, brew_coffee=ANSWER))
