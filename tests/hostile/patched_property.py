"""An answer cell replaces VirtualRun.problems so that no run ever has a problem."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("`make_breakfast` gets the right result in the right time but leaves a coroutine "
          "it never awaits; its cell replaces the `problems` property of "
          "`asynclab.testing.VirtualRun` with one that always returns `[]`.")
OUTCOME = ("Every class's `__dict__` is snapshotted, properties included: the property is put "
           "back before the test, which finds the coroutine never awaited and scores 0; "
           "reported.")
EXPECT = Expect("graded", scores={"test_make_breakfast": 0.0},
                flags=["asynclab.testing.VirtualRun.problems"],
                messages={"test_make_breakfast": "never awaited"})

ANSWER = """from asynclab.testing import VirtualRun

VirtualRun.problems = property(lambda self: [])


async def make_breakfast(boil, toast):
    boil(0.1)  # a coroutine never awaited
    water = await boil(0.3)
    bread = await toast(0.1)
    return [water, bread]"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, make_breakfast=ANSWER))
