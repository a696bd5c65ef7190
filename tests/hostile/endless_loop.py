"""download_all never returns: an endless loop inside the coroutine."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Timeouts"
ATTACK = "`download_all` spins in `while True: pass` when the test awaits it directly."
OUTCOME = ("Stopped after the cell time limit: that test scores 0, the rest full marks; the "
           "report says \"endless loop?\".")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                flags=["cell 'test_download_all' did not finish in", "an endless loop?"])

ANSWER = """async def download_all(download, delays):
    while True:
        pass"""


def submit(root: Path, student: str) -> None:
    nb = answered(root, download_all=ANSWER)
    write(root, student, nb)
