"""ANSI escape sequences and a bidi override in code, a grade id, stderr, an error and a file name."""

import contextlib
import io
import json
from pathlib import Path

import nbformat
from _build import ASSIGNMENT, Expect, answered, cell_of, folder, solution, write

from grader import records
from grader.__main__ import main

KIND = "Runtime tampering"
ATTACK = ("ANSI escape sequences (clear the screen, red text) and a bidi override (U+202E) in a "
          "comment next to `get_ipython()`, in the grade id of an added answer cell, in a "
          "warning `brew_coffee` writes to stderr, in the error `make_breakfast` raises and in "
          "the name of an extra file, all of which the grader quotes to the instructor.")
OUTCOME = ("Graded and flagged as usual; the summary `python -m grader autograde` prints, the "
           "record and the class report show each control character as a visible escape "
           "(`\\x1b`, `\\u202e`), never raw.")
EXPECT = Expect("graded", scores={"test_make_breakfast": 0.0},
                flags=["reach into IPython",
                       "passed and kept its points although the code wrote to stderr",
                       "is not part of the assignment and was not graded"],
                messages={"test_make_breakfast": "\\x1b[2J"})

CLEAR, RED, FLIP = "\x1b[2J\x1b[H", "\x1b[31m", "\u202e"
EVIL = CLEAR + RED + FLIP
BIDI = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
EXTRA_FILE = f"notes{EVIL}.ipynb"


def submit(root: Path, student: str) -> None:
    coffee = "import sys\n\n" + solution(root, "brew_coffee").replace(
        "    await asyncio.sleep(seconds)",
        f"    print({('warning ' + EVIL + 'hot')!r}, file=sys.stderr)\n"
        "    await asyncio.sleep(seconds)", 1)
    download = solution(root, "download_all") + f"\n\n_shell = get_ipython()  # {EVIL}\n"
    breakfast = (f"async def make_breakfast(boil, toast):\n"
                 f"    raise RuntimeError({('burnt ' + EVIL)!r})\n")
    nb = answered(root, brew_coffee=coffee, download_all=download, make_breakfast=breakfast)
    added = nbformat.from_dict(cell_of(nb, "download_all"))
    added.metadata["nbgrader"]["grade_id"] = f"extra{EVIL}"
    added.id = "added-extra"
    added.source = f"get_ipython()  # {EVIL}"
    nb.cells.append(added)
    write(root, student, nb)
    (folder(root, student) / EXTRA_FILE).write_text("{}")


def raw_controls(text: str) -> list[str]:
    return sorted({repr(c) for c in text if c == "\x1b" or c in BIDI})


def after(root: Path, student: str) -> None:
    # the record, as a file and as read back
    rec_path = records.path(root, ASSIGNMENT, student)
    assert not raw_controls(rec_path.read_text()), "raw control characters in the record file"
    rec = records.load(root, ASSIGNMENT, student)
    said = json.dumps([rec.failure, rec.flags, rec.warnings, [t.message for t in rec.tests]],
                      ensure_ascii=False)
    assert not raw_controls(said), f"raw control characters in the record: {raw_controls(said)}"
    assert "\\x1b[2J" in said and "\\u202e" in said, f"the escapes are shown: {said[:500]}"
    assert any("extra\\x1b[2J" in f for f in rec.flags), rec.flags  # the grade id route

    # the summary printed by `python -m grader autograde`
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["autograde", ASSIGNMENT, "--student", student, "--force",
                     "--no-progress", "--course", str(root)])
    printed = out.getvalue()
    assert code == 0, printed
    assert "Flagged for a look" in printed and "\\x1b[2J" in printed, printed
    assert not raw_controls(printed), f"raw control characters printed: {raw_controls(printed)}"

    # the class report
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", "--course", str(root)]) == 0
    page = (root / "grading" / "report" / "index.html").read_text()
    assert "\\x1b[2J" in page, "the report shows the escapes"
    assert not raw_controls(page), f"raw control characters in the report: {raw_controls(page)}"
