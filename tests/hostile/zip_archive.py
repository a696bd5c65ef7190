"""Binary garbage: a zip archive (of a solved notebook) renamed to .ipynb."""

import io
import zipfile
from pathlib import Path

import nbformat
from _build import NOTEBOOK, Expect, solved, write

KIND = "Broken input"
ATTACK = "Binary data: a zip archive of a solved notebook, renamed to `01_coroutines.ipynb`."
OUTCOME = "Fails before nbgrader reads it: the file is named and recognised as a ZIP archive."
EXPECT = Expect("failed", failure="01_coroutines.ipynb cannot be graded: it is a ZIP archive, "
                                  "not a notebook")


def submit(root: Path, student: str) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NOTEBOOK, nbformat.writes(solved(root)))
    write(root, student, buf.getvalue())
