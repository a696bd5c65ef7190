"""Signs that a submission was tampered with, in words an instructor can act on.

nbgrader restores locked cells (the tests) from the gradebook before it runs a notebook,
and warns "checksum changed" for *every* test cell with hidden tests, because the student
never saw them. Comparing with the released notebook instead tells real edits apart from
that noise. This is the first, cheap layer; runtime tampering is not detected here.
"""

from __future__ import annotations

import re

from . import course

# Code an answer has no business running: it reaches into the notebook machinery, the
# interpreter or the clock that the tests rely on.
SUSPICIOUS = [
    (re.compile(r"get_ipython\s*\("), "reaches into IPython (get_ipython())"),
    (re.compile(r"input_transformers|ast_transformers|events\.register"),
     "installs an IPython input/AST transformer or event hook"),
    (re.compile(r"\bsys\.modules\s*\["), "edits sys.modules"),
    (re.compile(r"\bimport\s+builtins\b|__builtins__"), "touches the builtins"),
    (re.compile(r"\b(?:time\.)?(?:perf_counter|monotonic|time)\s*=[^=]"), "replaces a clock function"),
    (re.compile(r"\bos\._exit\s*\(|\bsys\.exit\s*\("), "exits the kernel"),
    (re.compile(r"^\s*%%capture|^\s*%%script|^\s*%%bash", re.M), "uses a cell magic that hides or skips code"),
]


def released_cells(nb) -> dict[str, tuple[str, str, bool]]:
    """grade_id -> (cell_type, source, is_test) for the locked cells of a released notebook."""
    out = {}
    for cell in nb.cells:
        meta = course.nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if not gid or meta.get("solution"):
            continue
        if meta.get("grade") or meta.get("locked"):
            out[gid] = (cell.cell_type, cell.source, bool(meta.get("grade")))
    return out


def flags(nb, released: dict[str, tuple[str, str, bool]]) -> list[str]:
    """What looks wrong in submitted notebook ``nb`` compared with its release."""
    found: list[str] = []
    seen: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        meta = course.nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if gid:
            seen[gid] = seen.get(gid, 0) + 1
        if gid in released:
            cell_type, source, is_test = released[gid]
            what = "test cell" if is_test else "locked cell"
            if cell.cell_type != cell_type:
                found.append(f"{what} '{gid}' was changed from {cell_type} to {cell.cell_type}; "
                             f"it was restored for grading")
            elif cell.source.strip() != source.strip():
                found.append(f"{what} '{gid}' was edited; the original was restored for grading")
            continue
        if cell.cell_type != "code":
            continue
        where = f"answer cell '{gid}'" if meta.get("solution") else f"cell {index} (added by the student)"
        for pattern, meaning in SUSPICIOUS:
            if pattern.search(cell.source):
                found.append(f"{where} {meaning}")
    for gid, count in seen.items():
        if count > 1:
            found.append(f"cell '{gid}' appears {count} times; nbgrader grades only the last copy")
    for gid, (_, _, is_test) in released.items():
        if is_test and gid not in seen:
            found.append(f"test cell '{gid}' was deleted, so it did not run and scores 0")
    return found
