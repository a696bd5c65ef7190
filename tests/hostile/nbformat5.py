"""A solved notebook that claims an nbformat version that does not exist (5)."""

import json
from pathlib import Path

import nbformat
from _build import Expect, solved, write

KIND = "Broken input"
ATTACK = 'A solved notebook whose header claims a made-up `"nbformat": 5`.'
OUTCOME = ("Fails before nbgrader reads it: the message names the version and says Jupyter "
           "saves nbformat 4.")
EXPECT = Expect("failed", failure="cannot be graded: it says nbformat 5, a version nbformat")


def submit(root: Path, student: str) -> None:
    data = json.loads(nbformat.writes(solved(root)))
    data["nbformat"] = 5
    write(root, student, json.dumps(data, indent=1))
