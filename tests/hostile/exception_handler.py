"""make_breakfast installs an exception handler that swallows the test's failure."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("A wrong `make_breakfast` that, when called, installs an IPython custom exception "
          "handler swallowing every error, so the failing test shows none.")
OUTCOME = ("The test did not reach its last line and the handler changed while it ran: it "
           "scores 0 (fail-closed); reported.")
EXPECT = Expect("graded", scores={"test_make_breakfast": 0.0},
                flags=["test 'test_make_breakfast' scores 0", "reach into IPython"])

ANSWER = """async def make_breakfast(boil, toast):
    get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)
    return ["water boiled", "toast ready"]"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, make_breakfast=ANSWER))
