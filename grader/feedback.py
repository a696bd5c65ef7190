"""One HTML feedback page per student and assignment, without the hidden tests.

This is nbgrader's ``generate_feedback`` (its GenerateFeedback converter, GetGrades
preprocessor and feedback template; pages land in ``grading/feedback/<student>/
<assignment>/``, where nbgrader's exchange finds them) with two preprocessors added:

* :class:`HideHiddenTests` removes the hidden-test regions from test cells, and the lines
  of them that a traceback quotes, while keeping what the failing check said
  (``AssertionError: double(21) should be 42, got 23``). nbgrader's own feedback shows
  the hidden tests in full; ``with_hidden_tests=True`` keeps that behaviour.
* :class:`ResultsSummary` puts a table at the top: every check, its points, and why it
  failed.

Pages are rebuilt when the graded notebook is newer than the page (or with ``force``),
several at once.
"""

from __future__ import annotations

import html
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nbformat.v4 import new_markdown_cell
from traitlets import Bool

from . import nbgrader_app

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"^\s*Cell\s+In\s*\[(\d+)\]")

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor  # noqa: E402


def plain(text: str) -> str:
    return ANSI.sub("", text)


def hidden_lines(source: str, begin: str, end: str) -> set[str]:
    """The stripped lines between the hidden-test delimiters of a cell's source."""
    out, inside = set(), False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and line.strip():
            out.add(line.strip())
    return out


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from test cells: their source, and their code wherever an
    output quotes it. Failure messages (the exception's value) stay."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        self.clearer = ClearHiddenTests(parent=self)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            return cell, resources
        secret = hidden_lines(cell.source, self.clearer.begin_test_delimeter,
                              self.clearer.end_test_delimeter)
        if not secret:
            return cell, resources
        self.clearer._remove_hidden_test_region(cell)
        count = cell.get("execution_count")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = scrub_traceback(out.get("traceback", []), count, secret)
            elif out.get("output_type") == "stream":
                out["text"] = scrub_text(out.get("text", ""), secret)
        return cell, resources


def _quotes(line: str, secret: set[str]) -> bool:
    text = plain(line).strip()
    text = re.sub(r"^(-*>\s*)?\d+\s", "", text).strip()  # traceback gutter: "----> 4 "
    return bool(text) and any(text == s or (len(s) >= 8 and s in text) for s in secret)


def scrub_text(text, secret: set[str]):
    lines = text.splitlines(keepends=True) if isinstance(text, str) else list(text)
    return "".join(line for line in lines if not _quotes(line, secret))


def scrub_traceback(frames: list[str], count: int | None, secret: set[str]) -> list[str]:
    """Drop the test cell's own frame (it quotes the test's code) and any line quoting a
    hidden test; keep frames of the student's code and the final error line."""
    out = []
    for frame in frames:
        match = CELL_FRAME.match(plain(frame))
        if match and count is not None and int(match.group(1)) == count:
            out.append(f"Cell In[{count}]: in the test code (not shown)")
            continue
        lines = frame.split("\n")
        kept = [line for line in lines if not _quotes(line, secret)]
        if kept != lines:
            kept.append("    (test code not shown)")
        out.append("\n".join(kept))
    return out


def failure_reason(cell) -> str | None:
    from .execute import outcome_message

    return outcome_message(cell)


class ResultsSummary(NbGraderPreprocessor):
    """A table of every check at the top of the page: points and why it failed."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        rows, score, total = [], 0.0, 0.0
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("grade") or meta.get("solution"):
                continue
            points = float(meta.get("points") or 0)
            got = meta.get("score")
            got = float(got) if got is not None else 0.0
            score += got
            total += points
            if got >= points:
                verdict = "&#10004; passed"
            else:
                reason = failure_reason(cell) or "did not pass"
                verdict = "&#10008; " + html.escape(reason).replace("|", "&#124;")
            gid = meta.get("grade_id", "?")
            rows.append(f"| [{gid}](#{gid}) | {got:g} / {points:g} | {verdict} |")
        if rows:
            text = "\n".join([
                f"## Your results: {score:g} / {total:g} points",
                "",
                "Each check below ran on your notebook. A failed check says why; scroll down "
                "to its cell to see the visible part of the test and its output.",
                "",
                "| Check | Points | Result |",
                "|---|---|---|",
                *rows,
            ])
            nb.cells.insert(0, new_markdown_cell(text))
        return nb, resources


@dataclass
class FeedbackReport:
    written: list[Path] = field(default_factory=list)
    up_to_date: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        out = [f"Feedback: {len(self.written)} page(s) written, {self.up_to_date} already up to "
               f"date, {len(self.failed)} failed ({self.seconds:.1f} s)."]
        out += [f"  FAILED {f}" for f in self.failed]
        return out


# -- one page (runs in a worker process) -----------------------------------------------

_STATE: dict = {}


def _init_worker(root: str, with_hidden_tests: bool) -> None:
    _STATE["nbg"] = nbgrader_app.load(Path(root))
    _STATE["hidden"] = with_hidden_tests
    os.chdir(root)


def _page(assignment: str, student: str) -> tuple[str, str, str | None]:
    nbg = _STATE["nbg"]
    conv = nbg.feedback_converter()
    pps = list(conv.preprocessors)
    names = [p.__name__ for p in pps]
    at = names.index("GetGrades") + 1 if "GetGrades" in names else len(pps)
    pps.insert(at, ResultsSummary)
    if not _STATE["hidden"]:
        pps.insert(0, HideHiddenTests)
    conv.preprocessors = pps
    conv.force = True
    cd = nbg.coursedir
    cd.assignment_id, cd.student_id = assignment, student
    nbg.log.take()
    try:
        conv.start()
    except BaseException as exc:  # nbgrader exits through exceptions of its own
        log = "; ".join(nbg.log.take()[-3:])
        return assignment, student, f"{type(exc).__name__}: {exc} {log}".strip()
    finally:
        cd.assignment_id, cd.student_id = "", "*"
    return assignment, student, None


def generate(root: Path, assignments: list[str] | None = None,
             students: list[str] | None = None, with_hidden_tests: bool = False,
             force: bool = False, jobs: int | None = None) -> FeedbackReport:
    """Write the feedback pages of every graded submission (or of those asked for)."""
    start = time.time()
    root = Path(root).resolve()
    nbg = nbgrader_app.load(root)
    cd = nbg.coursedir
    report = FeedbackReport()
    todo = []
    graded_dir = root / cd.autograded_directory
    for folder in sorted(graded_dir.glob("*/*")):
        student, assignment = folder.parent.name, folder.name
        if (assignments and assignment not in assignments) or (students and student not in students):
            continue
        notebooks = sorted(folder.glob("*.ipynb"))
        if not notebooks:
            continue
        out = root / nbg.path(cd.feedback_directory, student, assignment)
        pages = [out / (nb.stem + ".html") for nb in notebooks]
        newest = max(nb.stat().st_mtime for nb in notebooks)
        if not force and all(p.exists() and p.stat().st_mtime >= newest for p in pages):
            report.up_to_date += 1
            continue
        todo.append((assignment, student, pages))
    if todo:
        from .pool import _context

        size = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        with ProcessPoolExecutor(size, mp_context=_context(), initializer=_init_worker,
                                 initargs=(str(root), with_hidden_tests)) as ex:
            futures = [(ex.submit(_page, a, s), pages) for a, s, pages in todo]
            for fut, pages in futures:
                assignment, student, error = fut.result()
                if error:
                    report.failed.append(f"{student}/{assignment}: {error}")
                else:
                    report.written += [p for p in pages if p.exists()]
    report.seconds = time.time() - start
    return report
