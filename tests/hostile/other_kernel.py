"""The notebook's kernelspec changed to a kernel that is not installed."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Structure"
ATTACK = "The notebook's kernelspec changed to another kernel (`bash`)."
OUTCOME = "Graded with the course's Python kernel; the change is reported."
EXPECT = Expect("graded", scores="full",
                flags=["the notebook's kernel was changed to 'bash': graded with 'python3'"])


def submit(root: Path, student: str) -> None:
    nb = answered(root)
    nb.metadata["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    write(root, student, nb)
