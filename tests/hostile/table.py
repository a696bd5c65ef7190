"""The README's table "What grading withstands", built from the case files.

``python tests/hostile/table.py`` prints it; ``--write`` puts it in README.md between
``<!-- withstands:begin -->`` and ``<!-- withstands:end -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from _build import cases

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- withstands:begin -->", "<!-- withstands:end -->"


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown() -> str:
    rows = ["| Kind | The submission | What grading does |", "|---|---|---|"]
    rows += [f"| {c.KIND} | {cell(c.ATTACK)} | {cell(c.OUTCOME)} |" for c in cases().values()]
    return "\n".join(rows) + "\n"


def in_readme(text: str | None = None) -> str:
    """The table as the README holds it now."""
    text = README.read_text() if text is None else text
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n") + "\n"


def write() -> None:
    text = README.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + markdown() + text[end:])


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
        print(f"wrote the table into {README}")
    else:
        print(markdown(), end="")
