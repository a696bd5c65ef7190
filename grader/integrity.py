"""Answers that reach for the grading machinery, in words an instructor can act on.

Structure (inserted, deleted, edited or moved cells) is handled where the notebook is
rebuilt from the release (:mod:`grader.preprocessors`); tampering at run time is undone and
caught by the grading guard (:mod:`grader.kernel_guard`). This module names the code in an
answer that has no business in an asyncio exercise, so that an instructor can look at it
even when the guard caught nothing.
"""

from __future__ import annotations

import re

from . import course

SUSPICIOUS = [
    (re.compile(r"get_ipython\s*\(|\bIPython\b"), "reach into IPython"),
    (re.compile(r"input_transformers|ast_transformers|events\.register|set_custom_exc"),
     "install an IPython transformer, hook or exception handler"),
    (re.compile(r"\bsys\.(modules|meta_path|settrace|setprofile|excepthook|_getframe)"),
     "reach into the interpreter (sys)"),
    (re.compile(r"\bthreading\.(?:settrace|setprofile)|\bsettrace\b|\bsetprofile\b"),
     "set a trace or profile function"),
    (re.compile(r"\.__(?:code|defaults|kwdefaults|closure|globals)__\b|\bcell_contents\b"),
     "change a function in place (its code, defaults or closure)"),
    (re.compile(r"\bbuiltins\b|__builtins__|__import__"), "touch the builtins"),
    (re.compile(r"\bctypes\b"), "use ctypes"),
    (re.compile(r"\bos\._exit\s*\(|\bsys\.exit\s*\(|\bos\.kill\b"), "exit or kill the kernel"),
    (re.compile(r"\bsignal\b"), "use signals"),
    (re.compile(r"\bgc\.|\bimport\s+gc\b"), "use the garbage collector's internals"),
    (re.compile(r"(?<![\w.])(?:exec|eval|compile)\s*\("), "run code from strings (exec/eval)"),
    (re.compile(r"\bglobals\s*\(\s*\)|\binspect\.(?:currentframe|stack)"),
     "rewrite the notebook's namespace or frames"),
    (re.compile(r"\b(?:perf_counter|monotonic|time|sleep)\s*=[^=]"),
     "replace a clock or sleep function"),
    (re.compile(r"\bos\.(?:fork|forkpty|system|popen|posix_spawnp?|spawn\w*|exec\w*)\b"
                r"|\bsubprocess\b|\bmultiprocessing\b|\bpty\b"),
     "start processes"),
    (re.compile(r"\bgrader\b|kernel_guard"), "reach for the grader"),
    (re.compile(r"^[ \t]*%%(?:capture|script|bash|sh|writefile)", re.M),
     "use a cell magic that hides or skips code"),
]


def suspicious(source: str) -> list[str]:
    """What the code in ``source`` reaches for, as short phrases ("reach into IPython")."""
    return [meaning for pattern, meaning in SUSPICIOUS if pattern.search(source)]


def flags(nb) -> list[str]:
    """Answer cells of ``nb`` whose code reaches for the grading machinery."""
    found = []
    for cell in nb.cells:
        meta = course.nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id"):
            what = suspicious(cell.source)
            if what:
                found.append(f"answer cell '{meta['grade_id']}' has code that may "
                             f"{', '.join(what)}: look at it")
    return found

