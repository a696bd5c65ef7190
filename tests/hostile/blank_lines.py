"""A right answer followed by 200,000 blank lines."""

from pathlib import Path

from _build import Expect, answered, solution, write

KIND = "Broken input"
ATTACK = ("A right `download_all` followed by 200,000 blank lines, which once made a check "
          "before the kernel take minutes.")
OUTCOME = ("Every check on the text is linear in its size, and all the work before the kernel "
           "has a bound of CPU time (`c.SubmittedNotebooks.max_prepare_seconds`); the answer "
           "runs without its trailing blank lines (IPython would tokenise each twice): graded "
           "normally, full marks, in the time of a solved notebook.")
EXPECT = Expect("graded", scores="full")
BLANK_LINES = 200_000


def submit(root: Path, student: str) -> None:
    answer = solution(root, "download_all") + "\n" * BLANK_LINES
    path = write(root, student, answered(root, download_all=answer))
    assert path.read_text().count("\\n") >= BLANK_LINES  # the lines are in the file
