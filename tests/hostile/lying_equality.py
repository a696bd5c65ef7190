"""download_all returns a list subclass whose __eq__ always says True."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ATTACK = ("`download_all` waits for all the delays at once, as asked, but never builds the "
          "results: it returns an empty `list` subclass whose `__eq__` always says True.")
OUTCOME = ("Results are compared as plain built-in values of exactly the expected types, "
           "never by the answer's own `__eq__`: the test scores 0 and its message names "
           "the type.")
EXPECT = Expect(
    "graded",
    scores={"test_download_all": 0.0},
    messages={"test_download_all": "download_all(download, [0.2, 0.3, 0.1]) returned a "
                                   "SameAsAnything, "
                                   "not a plain list."},
)

ANSWER = """async def download_all(download, delays):
    class SameAsAnything(list):
        def __eq__(self, other):
            return True

    await asyncio.gather(*(download(delay) for delay in delays))
    return SameAsAnything()"""


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=ANSWER))
