"""A 60 MB notebook: a solved one with a giant output."""

from pathlib import Path

import nbformat
from _build import Expect, folder, solved

KIND = "Broken input"
ATTACK = "A 60 MB notebook: a solved one carrying a giant saved output."
OUTCOME = ("Refused from its size alone, unread (limit 20 MB, `c.SubmittedNotebooks.max_mb`); "
           "the message gives both sizes.")
EXPECT = Expect("failed", failure="MB, more than the limit of 20 MB for a notebook")
SIZE = 60_000_000


def submit(root: Path, student: str) -> None:
    head, tail = nbformat.writes(solved(root)).split('"outputs": []', 1)
    output = '"outputs": [{"name": "stdout", "output_type": "stream", "text": "'
    with open(folder(root, student) / "01_coroutines.ipynb", "w") as fh:
        fh.write(head + output)
        chunk = "x" * 1_000_000
        for _ in range(SIZE // len(chunk)):
            fh.write(chunk)
        fh.write('"}]' + tail)
