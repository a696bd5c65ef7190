"""download_all tries to allocate 10 GB."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Resources"
ATTACK = "`download_all` allocates 10 GB (`bytearray(10 * 1024**3)`) when called."
OUTCOME = ("The kernel's memory limit makes it a MemoryError: that test scores 0, the rest "
           "full marks, the machine is untouched.")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                messages={"test_download_all": "MemoryError"})


def submit(root: Path, student: str) -> None:
    answer = solution(root, "download_all").replace(
        "async def download_all(download, delays):\n",
        "async def download_all(download, delays):\n    hoard = bytearray(10 * 1024**3)\n", 1)
    write(root, student, answered(root, download_all=answer))
