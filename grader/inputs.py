"""A submitted notebook file, checked before nbgrader reads it.

nbgrader reads whatever file carries the notebook's name. One that is cut short, empty, a
zip renamed, JSON of some other kind, of an nbformat version it cannot read or very large
fails deep inside nbgrader (``'int' object is not iterable``), after the gradebook got rows
for it. :func:`problem` says in one line what is wrong instead, from one read of at most
the size limit (a larger file is refused from its size alone); the autograder then fails the
submission without touching the gradebook.

The limits are nbgrader configuration, in ``nbgrader_config.py``:
``c.SubmittedNotebooks.max_mb`` (size) and ``c.SubmittedNotebooks.max_prepare_seconds`` (CPU
time for everything a worker does to a submission before its kernel starts, see
:meth:`grader.execute.Executor.prepare`). Every check on the text is linear in its size.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import nbformat
from traitlets import Float
from traitlets.config import Configurable

MB = 1_000_000
CELL_TYPES = ("code", "markdown", "raw")
# what a file is, from its first bytes
MAGIC = {b"PK\x03\x04": "a ZIP archive", b"\x1f\x8b": "a gzip archive", b"%PDF": "a PDF document",
         b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"\x7fELF": "a program"}


class SubmittedNotebooks(Configurable):
    max_mb = Float(20.0, help="Largest submitted notebook graded, in MB; a larger one fails "
                              "at once, unread.").tag(config=True)
    max_prepare_seconds = Float(
        20.0, help="CPU seconds one submission may take to be read, checked and rebuilt from "
        "the release before its kernel starts; past that it fails (not graded, nothing in "
        "the gradebook) and the rest of the class is graded. 0: no limit.").tag(config=True)


def max_bytes(config=None) -> int:
    """The size limit set in the course's nbgrader configuration (default 20 MB)."""
    return int(SubmittedNotebooks(config=config).max_mb * MB)


def problem(path: str | Path, limit: int = 20 * MB) -> str | None:
    """Why the file at ``path`` cannot be graded as a notebook, or None if it can."""
    try:
        if os.path.islink(path):  # it could point at anything the grader may read
            return f"it is a symbolic link (to {os.readlink(path)}), not the notebook itself"
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            return "it is not a regular file"
        if info.st_size > limit:
            return too_big(info.st_size, limit)
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)  # the file may have grown since
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if not data:
        return "it is empty (0 bytes)"
    if len(data) > limit:
        return too_big(len(data), limit)
    for magic, what in MAGIC.items():
        if data.startswith(magic):
            return f"it is {what}, not a notebook"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        return "it is binary data, not a notebook (a notebook is JSON text)"
    if not text.strip():
        return "it holds only white space"
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            lines = text.count("\n") + (not text.endswith("\n"))
            return f"it is not valid JSON: it ends too early, after line {lines} (cut short?)"
        return f"it is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    return shape(nb)


def too_big(size: int, limit: int) -> str:
    return (f"it is {size / MB:.3g} MB, more than the limit of {limit / MB:.3g} MB for a "
            f"notebook (c.SubmittedNotebooks.max_mb in nbgrader_config.py)")


def shape(nb) -> str | None:
    """What keeps parsed JSON ``nb`` from being a notebook nbgrader can grade, or None."""
    if not isinstance(nb, dict):
        return f"it is valid JSON but not a notebook (a JSON {json_type(nb)}, not an object)"
    if "cells" not in nb and "worksheets" not in nb:
        return "it is valid JSON but not a notebook (it has no cells)"
    version = nb.get("nbformat")
    if version is None:
        return 'it is valid JSON but not a notebook (it has no "nbformat" version)'
    if type(version) is not int or version not in nbformat.versions:
        return (f"it says nbformat {version}, a version nbformat {nbformat.__version__} cannot "
                f"read (Jupyter saves notebooks as nbformat {nbformat.current_nbformat})")
    if version != nbformat.current_nbformat:
        try:  # nbgrader reads it converted, as Jupyter opens it
            old = nbformat.versions[version].to_notebook_json(nb)
            nb = nbformat.convert(old, nbformat.current_nbformat)
        except Exception as exc:
            why = " ".join(str(exc).split())[:200]
            return f"it is nbformat {version} and cannot be converted to nbformat 4 ({why})"
    if not isinstance(nb.get("cells"), list):
        return f'it is not a valid notebook ("cells" is a JSON {json_type(nb.get("cells"))})'
    if not isinstance(nb.get("metadata"), dict):
        return 'it is not a valid notebook (its "metadata" is missing or not an object)'
    for index, cell in enumerate(nb["cells"]):
        why = cell_problem(cell)
        if why:
            return f"it is not a valid notebook (cell {index} {why})"
    return None


def cell_problem(cell) -> str | None:
    if not isinstance(cell, dict):
        return f"is a JSON {json_type(cell)}, not an object"
    if cell.get("cell_type") not in CELL_TYPES:
        return f"has cell_type {cell.get('cell_type')!r}"
    source = cell.get("source")
    if not (isinstance(source, str)
            or isinstance(source, list) and all(isinstance(s, str) for s in source)):
        return "has no source text"
    if not isinstance(cell.get("metadata"), dict):
        return 'has no "metadata" object'
    return None


def json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def no_notebook(folder: Path, shown: str | Path, expected: list[str]) -> str:
    """Why a submission folder holds nothing to grade: what it holds, what was expected."""
    try:
        found = sorted(p.name for p in Path(folder).iterdir() if not p.name.startswith("."))
    except OSError:
        found = []
    held = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return (f"no notebook in {shown}/ (found {held or 'nothing'}; "
            f"expected {', '.join(expected) or 'a notebook'})")
