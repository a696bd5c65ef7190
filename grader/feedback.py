"""One HTML feedback page per student and assignment, without the hidden tests.

This is nbgrader's ``generate_feedback`` (its GenerateFeedback converter, GetGrades
preprocessor and feedback template; pages land in ``grading/feedback/<student>/
<assignment>/``, where nbgrader's exchange finds them) with two preprocessors added, also
named in ``nbgrader_config.py`` so that plain ``nbgrader generate_feedback`` and the
formgrader's button use them too:

* :class:`HideHiddenTests` removes the hidden-test regions from test cells, and every output
  of the notebook that quotes a line of them, while keeping what a failing check said
  (``AssertionError: double(21) should be 42, got 23``). nbgrader's own feedback shows
  the hidden tests in full; ``with_hidden_tests=True`` (or
  ``c.HideHiddenTests.enabled = False``) keeps that behaviour.
* :class:`ResultsSummary` puts a table at the top: every check, its points, and why it
  failed.

Every page written here carries a mark, ``<meta name="grader-feedback" content="...">``,
a fingerprint of what it shows: the graded notebook, every grade and comment in the
gradebook (manual grades and comments from the formgrader included), the late penalty and
whether hidden tests are shown. A page is kept only if its mark matches; a page without
the mark (written by plain ``nbgrader generate_feedback`` or the formgrader's button) or
with another fingerprint is written again, several at once. A page without the mark that
shows hidden tests is named in a warning: copies already released to students must be
released again.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_markdown_cell
from traitlets import Bool

from . import nbgrader_app
from .escape import printable

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_FRAME = re.compile(r"\s*Cell\s+In\s*\[(\d+)\]")  # used with match(): anchored
GUTTER = re.compile(r"(?:-*>)?\s*\d+\s")  # a traceback's "----> 4 ", anchored too
TAG = re.compile(r"<[^>]*>")
# white space and characters that show nothing (zero-width, soft hyphen, bidi controls)
INVISIBLE = re.compile(r"[\s\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+")
# A hidden line quoted inside a longer text counts only if it has at least this many
# characters besides white space: shorter ones ("else:", "return x", ")") are too common
# to tell a quote from chance, and tell a reader little. Shorter lines still count when
# an output line is nothing but that line.
MIN_QUOTE = 12
NOT_SHOWN = "[output not shown: it quotes the hidden tests]\n"

from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor  # noqa: E402


def plain(text: str) -> str:
    return ANSI.sub("", text)


def squeeze(text: str) -> str:
    """``text`` without ANSI colours, white space and invisible characters: the form in
    which outputs and hidden lines are compared, so that re-spacing a line, or putting
    zero-width spaces in it, does not hide it."""
    return INVISIBLE.sub("", plain(text))


def hidden_lines(source: str, begin: str, end: str) -> set[str]:
    """The stripped lines between the hidden-test delimiters of a cell's source."""
    return split_hidden(source, begin, end)[0]


def split_hidden(source: str, begin: str, end: str) -> tuple[set[str], set[str]]:
    """(lines inside the hidden-test regions, lines outside them), stripped, non-empty."""
    inside_lines, outside_lines, inside = set(), set(), False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif line.strip():
            (inside_lines if inside else outside_lines).add(line.strip())
    return inside_lines, outside_lines


class Secret:
    """The hidden-test lines of a notebook that appear nowhere else in it, and how to tell
    whether a text quotes one of them.

    Texts and lines are compared without colours, white space and invisible characters
    (:func:`squeeze`). An output line quotes
    the hidden tests if it *is* a hidden line (whatever its length, after a traceback's
    line-number gutter), or *contains* one of at least ``MIN_QUOTE`` characters. A whole
    output (or all outputs of a cell run together) quotes them if it contains one of those:
    that catches a line printed piecewise, one character per line, or split across stdout
    and stderr."""

    def __init__(self, hidden: set[str], shown: set[str] = frozenset()):
        keys = {squeeze(line) for line in hidden} - {squeeze(line) for line in shown}
        keys.discard("")
        self.exact = keys
        self.long = sorted(k for k in keys if len(k) >= MIN_QUOTE)

    def __bool__(self) -> bool:
        return bool(self.exact)

    def in_text(self, text: str) -> bool:
        """Whether ``text`` (any length, many lines) contains a specific hidden line."""
        squeezed = squeeze(text)
        return any(k in squeezed for k in self.long)

    def in_line(self, line: str) -> bool:
        text = plain(line).strip()
        squeezed = squeeze(text)
        if not squeezed:
            return False
        if squeezed in self.exact or any(k in squeezed for k in self.long):
            return True
        gutter = GUTTER.match(text)
        return bool(gutter) and squeeze(text[gutter.end():]) in self.exact


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def scrub_text(text, secret: Secret) -> str:
    """``text`` without the lines that quote a hidden line."""
    text = _text(text)
    if not (secret.in_text(text) or any(secret.in_line(x) for x in text.splitlines())):
        return text
    return "".join(line for line in text.splitlines(keepends=True) if not secret.in_line(line))


def scrub_traceback(frames: list[str], counts: set[int], secret: Secret) -> list[str]:
    """Drop the frames of cells that hold hidden tests (they quote the test's code) and any
    line quoting a hidden test; keep frames of the student's code and the final error line."""
    out = []
    for frame in frames:
        match = CELL_FRAME.match(plain(frame))
        if match and int(match.group(1)) in counts:
            out.append(f"Cell In[{match.group(1)}]: in the test code (not shown)")
            continue
        lines = frame.split("\n")
        kept = [line for line in lines if not secret.in_line(line)]
        if kept != lines:
            kept.append("    (test code not shown)")
        out.append("\n".join(kept))
    return out


RICH_TEXT = ("text/html", "image/svg+xml", "text/markdown", "text/latex")


def _rich_quotes(data: dict, secret: Secret) -> bool:
    """Whether a display's text representations quote a hidden line (markup removed)."""
    for mime, value in data.items():
        if mime.startswith("image/") and mime != "image/svg+xml":
            continue  # pictures: their bytes cannot be compared
        if isinstance(value, str) or \
                isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = _text(value)
        else:
            text = json.dumps(value)  # application/json and the like
        if mime in RICH_TEXT:
            text = html.unescape(TAG.sub(" ", text))
        if secret.in_text(text) or any(secret.in_line(x) for x in text.splitlines()):
            return True
    return False


def _not_shown() -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=NOT_SHOWN)


def scrub_outputs(outputs: list, counts: set[int], secret: Secret) -> list:
    """A cell's outputs without any quote of the hidden tests. Errors keep their name and
    value (the failing check's message) unless the value itself quotes them."""
    out = []
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream":
            o["text"] = scrub_text(o.get("text", ""), secret)
            if not o["text"]:
                continue
        elif kind == "error":
            o["traceback"] = scrub_traceback(list(o.get("traceback", [])), counts, secret)
            value = _text(o.get("evalue", ""))
            o["evalue"] = scrub_text(value, secret) or (NOT_SHOWN.strip() if value else "")
        elif kind in ("display_data", "execute_result", "update_display_data"):
            if _rich_quotes(o.get("data", {}), secret):
                o = _not_shown()
        out.append(o)
    # what is left, run together: a line printed in pieces (one character per line,
    # across stdout and stderr) shows up only here
    together = []
    for o in out:
        if o.get("output_type") == "stream":
            together.append(_text(o.get("text", "")))
        elif o.get("output_type") == "error":
            together += list(o.get("traceback", [])) + [str(o.get("evalue", ""))]
        else:
            together += [_text(v) for v in o.get("data", {}).values() if isinstance(v, str | list)]
    if not secret.in_text("".join(together)):
        return out
    cut = []
    for o in out:
        if o.get("output_type") == "error":
            value = str(o.get("evalue", ""))
            if secret.in_text(value):
                value = NOT_SHOWN.strip()
            o["evalue"] = value
            o["traceback"] = [f"{o.get('ename', 'Error')}: {value}"]
            cut.append(o)
        elif not cut or cut[-1].get("text") != NOT_SHOWN:
            cut.append(_not_shown())
    return cut


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from a graded notebook: their code from the test cells, and every
    output of any cell that quotes a line of them. Failure messages (the exception's value)
    stay."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        clearer = ClearHiddenTests(parent=self)
        begin, end = clearer.begin_test_delimeter, clearer.end_test_delimeter
        hidden, shown, counts, tests = set(), set(), set(), []
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            inside, outside = split_hidden(cell.get("source", ""), begin, end)
            shown |= outside
            # only the course's test cells hold hidden tests (their source is restored
            # from the gradebook); an answer cell's markers are the student's own text
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") \
                    and inside:
                hidden |= inside
                tests.append(cell)
                if cell.get("execution_count") is not None:
                    counts.add(int(cell["execution_count"]))
        for cell in tests:
            clearer._remove_hidden_test_region(cell)
        secret = Secret(hidden, shown)
        if secret:
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.get("outputs"):
                    cell.outputs = scrub_outputs(cell.outputs, counts, secret)
        return nb, resources


def _prefixes(root: str | None = None) -> list[tuple[str, str]]:
    """(absolute folder, what to show instead), longest first: the course folder, Python's
    library folders, the home folder."""
    import site
    import sysconfig

    found: dict[str, str] = {}
    for key in ("purelib", "platlib", "stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            found[path.rstrip("/") + "/"] = ""
    for path in site.getsitepackages() + [site.getusersitepackages()]:
        found[path.rstrip("/") + "/"] = ""
    if root:
        found[str(root).rstrip("/") + "/"] = ""
    home = os.path.expanduser("~")
    if home not in ("/", "~"):
        found[home.rstrip("/") + "/"] = "~/"
    return sorted(found.items(), key=lambda kv: -len(kv[0]))


# an absolute path of at least two folders, not part of a URL ("http://host/a/b")
ABSOLUTE = re.compile(r"(^|[\s'\"(=\[]|\x1b\[[0-9;]*m)/(?:[^\s/:'\"()<>,\x1b]+/)+"
                      r"(?=[^\s/:'\"()<>,\x1b]+)", re.M)


def strip_paths(text: str, prefixes: list[tuple[str, str]]) -> str:
    """``text`` with the machine's folders left out: library and course files shown by
    their name inside the library or course (``asyncio/tasks.py``), other absolute paths
    by their last part (``.../notes.txt``)."""
    for prefix, short in prefixes:
        text = text.replace(prefix, short)
    return ABSOLUTE.sub(r"\1.../", text)


class StripPaths(NbGraderPreprocessor):
    """Leave the grading machine's folders out of outputs and tracebacks: they tell a
    student nothing, and the server's layout is not theirs to know."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        prefixes = _prefixes(os.getcwd())
        for cell in nb.cells:
            for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
                if o.get("output_type") == "stream":
                    o["text"] = strip_paths(_text(o.get("text", "")), prefixes)
                elif o.get("output_type") == "error":
                    o["traceback"] = [strip_paths(t, prefixes) for t in o.get("traceback", [])]
                    o["evalue"] = strip_paths(_text(o.get("evalue", "")), prefixes)
                elif "text/plain" in o.get("data", {}):
                    o["data"]["text/plain"] = strip_paths(_text(o["data"]["text/plain"]),
                                                          prefixes)
        return nb, resources


def failure_reason(cell) -> str | None:
    from .execute import outcome_message

    return outcome_message(cell)


# padding and wrapping inline too: some renderers drop <style>
TD = " style='padding:.35em .8em;border:1px solid #ccc;vertical-align:top;text-align:left;" \
     "white-space:pre-wrap;overflow-wrap:anywhere'"
# long lines of outputs and tracebacks wrap instead of running off the page
PAGE_CSS = (".grader-results{border-collapse:collapse;margin:.5em 0 1em}"
            ".jp-OutputArea-output pre,.output_area pre,div.output_subarea pre{"
            "white-space:pre-wrap;overflow-wrap:anywhere}")


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
                reason = printable(failure_reason(cell) or "did not pass")
                verdict = "&#10008; " + html.escape(reason)
            gid = html.escape(printable(meta.get("grade_id", "?")))
            rows.append(f"<tr><td{TD}><a href='#{gid}'>{gid}</a></td>"
                        f"<td{TD} align='right'>{got:g}&nbsp;/&nbsp;{points:g}</td>"
                        f"<td{TD}>{verdict}</td></tr>")
        if rows:
            text = "\n".join([
                f"## Your results: {score:g} / {total:g} points",
                "",
                "Each check below ran on your notebook. A failed check says why; scroll down "
                "to its cell to see the visible part of the test and its output.",
                "",
                # one block of HTML (no blank line inside), so Markdown leaves it as it is
                f"<style>{PAGE_CSS}</style>"
                f"<table class='grader-results'><thead><tr><th{TD}>Check</th>"
                f"<th{TD}>Points</th><th{TD}>Result</th></tr></thead><tbody>"
                + "".join(rows) + "</tbody></table>",
            ])
            nb.cells.insert(0, new_markdown_cell(text))
        return nb, resources


MARK = "grader-feedback"
MARK_RE = re.compile(r'<meta name="grader-feedback" content="([0-9a-f]{64})">')
FORMAT = "2"  # changes when what a page shows changes


def fingerprint(gb, assignment: str, student: str, notebooks: list[Path],
                with_hidden_tests: bool) -> str:
    """What a feedback page of this submission shows, as one hash: the graded notebooks,
    the gradebook's grades and comments (automatic and manual), the late penalty."""
    from nbgrader.api import MissingEntry

    digest = hashlib.sha256(f"{FORMAT}|{with_hidden_tests}".encode())
    for path in notebooks:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        try:
            nb = gb.find_submission_notebook(path.stem, assignment, student)
        except MissingEntry:
            digest.update(b"no grades")
            continue
        rows = [("late", nb.late_submission_penalty)]
        rows += sorted((g.name, g.auto_score, g.manual_score, g.extra_credit, g.max_score,
                        g.needs_manual_grade) for g in nb.grades)
        rows += sorted((c.name, c.auto_comment, c.manual_comment) for c in nb.comments)
        digest.update(json.dumps(rows, default=str).encode())
    return digest.hexdigest()


def page_mark(page: Path) -> str | None:
    """The fingerprint a page of ours carries, or None (not ours, or unreadable)."""
    try:
        with open(page, encoding="utf-8", errors="replace") as fh:
            head = fh.read(8192)
    except OSError:
        return None
    found = MARK_RE.search(head)
    return found.group(1) if found else None


def put_mark(page: Path, stamp: str) -> None:
    text = page.read_text(encoding="utf-8")
    tag = f'<meta name="{MARK}" content="{stamp}">'
    at = text.find("<head>")
    text = text[:at + 6] + "\n" + tag + text[at + 6:] if at >= 0 else tag + "\n" + text
    tmp = page.with_name(page.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, page)


def shows_hidden_tests(page: Path, source: Path) -> bool:
    """Whether the page quotes a hidden test of the source notebook."""
    import nbformat

    try:
        nb = nbformat.read(source, as_version=4)
        text = page.read_text(encoding="utf-8", errors="replace")
    except Exception:
        return False
    clearer = ClearHiddenTests()
    begin, end = clearer.begin_test_delimeter, clearer.end_test_delimeter
    hidden, shown = set(), set()
    for cell in nb.cells:
        inside, outside = split_hidden(cell.get("source", ""), begin, end)
        hidden |= inside
        shown |= outside
    secret = Secret(hidden, shown)
    seen = html.unescape(TAG.sub("", text))
    return begin in seen or bool(secret) and secret.in_text(seen)


@dataclass
class FeedbackReport:
    written: list[Path] = field(default_factory=list)
    up_to_date: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    not_ours: int = 0  # pages written by plain nbgrader, rewritten
    stale: int = 0  # pages of ours whose grades changed since, rewritten
    warnings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        out = [f"Feedback: {len(self.written)} page(s) written, {self.up_to_date} already up to "
               f"date, {len(self.failed)} failed ({self.seconds:.1f} s)."]
        if self.not_ours or self.stale:
            out.append(f"  rewritten: {self.not_ours} submission(s) whose pages were written by "
                       f"plain nbgrader, {self.stale} whose grades or comments changed since")
        out += [f"  FAILED {printable(f)}" for f in self.failed]
        out += [f"WARNING: {printable(w)}" for w in self.warnings]
        return out


# -- one page (runs in a worker process) -----------------------------------------------

_STATE: dict = {}


def _init_worker(root: str, with_hidden_tests: bool) -> None:
    _STATE["nbg"] = nbgrader_app.load(Path(root))
    _STATE["hidden"] = with_hidden_tests
    os.chdir(root)


def _page(assignment: str, student: str, stamp: str = "",
          pages: tuple[Path, ...] = ()) -> tuple[str, str, str | None]:
    nbg = _STATE["nbg"]
    conv = nbg.feedback_converter()
    # nbgrader_config.py names both of ours already; put them in place whatever it says
    ours = (HideHiddenTests, ResultsSummary, StripPaths)
    pps = [p for p in conv.preprocessors if not (isinstance(p, type) and issubclass(p, ours))]
    names = [getattr(p, "__name__", str(p)) for p in pps]
    at = names.index("GetGrades") + 1 if "GetGrades" in names else len(pps)
    pps.insert(at, ResultsSummary)
    if not _STATE["hidden"]:
        pps.insert(0, HideHiddenTests)
    pps.insert(0, StripPaths)
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
    if stamp:
        for page in pages:
            if page.exists():
                put_mark(page, stamp)
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
    leaked = []
    from .gradebook import open_gradebook

    with open_gradebook(nbg.db_url, nbg.course_id) as gb:
        for folder in sorted(graded_dir.glob("*/*")):
            student, assignment = folder.parent.name, folder.name
            if (assignments and assignment not in assignments) or \
                    (students and student not in students):
                continue
            notebooks = sorted(folder.glob("*.ipynb"))
            if not notebooks:
                continue
            out = root / nbg.path(cd.feedback_directory, student, assignment)
            pages = [out / (nb.stem + ".html") for nb in notebooks]
            stamp = fingerprint(gb, assignment, student, notebooks, with_hidden_tests)
            marks = [page_mark(p) if p.exists() else None for p in pages]
            if not force and all(m == stamp for m in marks):
                report.up_to_date += 1
                continue
            theirs = [p for p, m in zip(pages, marks, strict=True) if p.exists() and m is None]
            if theirs:
                report.not_ours += 1
                source = root / cd.source_directory / assignment
                leaked += [p for p in theirs if shows_hidden_tests(p, source / (p.stem + ".ipynb"))]
            elif any(m is not None and m != stamp for m in marks):
                report.stale += 1
            todo.append((assignment, student, stamp, pages))
    if leaked:
        names = ", ".join(str(p.relative_to(root)) for p in leaked[:5])
        more = f" and {len(leaked) - 5} more" if len(leaked) > 5 else ""
        report.warnings.append(
            f"{len(leaked)} feedback page(s) written by plain nbgrader showed hidden tests "
            f"({names}{more}); they are rewritten now without them. Copies already released "
            f"to students stay until feedback is released again (nbgrader release_feedback, or "
            f"the formgrader's Release Feedback).")
    if todo:
        from .pool import _context

        size = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
        with ProcessPoolExecutor(size, mp_context=_context(), initializer=_init_worker,
                                 initargs=(str(root), with_hidden_tests)) as ex:
            futures = [(ex.submit(_page, a, s, stamp, tuple(pages)), pages)
                       for a, s, stamp, pages in todo]
            for fut, pages in futures:
                assignment, student, error = fut.result()
                if error:
                    report.failed.append(f"{student}/{assignment}: {error}")
                else:
                    report.written += [p for p in pages if p.exists()]
    report.seconds = time.time() - start
    return report
