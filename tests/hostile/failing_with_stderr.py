"""A wrong answer that also writes to stderr."""

from pathlib import Path

from _build import SEQUENTIAL, Expect, answered, write

KIND = "stderr"
ATTACK = "A sequential `download_all` that prints its progress to stderr."
OUTCOME = "A failing test never gets points, stderr or not: that test scores 0."
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                messages={"test_download_all": "AssertionError"})


def submit(root: Path, student: str) -> None:
    answer = "import sys\n\n" + SEQUENTIAL.replace(
        "        results.append(await download(delay))",
        "        print('waiting', delay, file=sys.stderr)\n"
        "        results.append(await download(delay))")
    write(root, student, answered(root, download_all=answer))
