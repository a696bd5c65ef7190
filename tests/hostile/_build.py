"""What the hostile cases share: the assignment, the expected outcome, submission builders
and the loader of the case files (``tests/hostile/<slug>.py``, the slug is the student id)."""

from __future__ import annotations

import html
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nbformat

from grader import course

HERE = Path(__file__).resolve().parent
ASSIGNMENT = "01_coroutines"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
KINDS = ("Structure", "Runtime tampering", "Isolation", "Timeouts", "Resources", "Broken input",
         "stderr",
         "Feedback")
FULL = "full"


@dataclass(frozen=True)
class Expect:
    """What grading must make of a case's submission (checked against its record).

    - ``status``: "graded" or "failed";
    - ``scores``: grade_id -> score for the tests that do not get full marks (every other
      test must), or ``FULL``: every test full marks; None for a failed submission;
    - ``failure``: a substring of the one-line reason it could not be graded;
    - ``flags``: substrings, each of which some flag for the instructor must contain;
    - ``messages``: grade_id -> a substring of that test's message (why it lost points);
    - ``gradebook``: whether the gradebook holds a submission row for it; None means "if
      and only if graded".
    """

    status: str
    scores: dict[str, float] | str | None = None
    failure: str | None = None
    flags: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)
    gradebook: bool | None = None

    @property
    def in_gradebook(self) -> bool:
        return self.status == "graded" if self.gradebook is None else self.gradebook


def assignment_of(case: ModuleType) -> str:
    """The assignment a case is graded in: its ``ASSIGNMENT``, or 01_coroutines."""
    return getattr(case, "ASSIGNMENT", ASSIGNMENT)


def released(root: Path, assignment: str = ASSIGNMENT):
    return nbformat.read(course.release_notebook(assignment, root), as_version=4)


def solved(root: Path, assignment: str = ASSIGNMENT):
    """The release with every solution filled in: full marks."""
    return course.fill_answers(released(root, assignment),
                               course.solution_answers(assignment, root))


def folder(root: Path, student: str, assignment: str = ASSIGNMENT) -> Path:
    dest = Path(root) / "grading" / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def write(root: Path, student: str, content, name: str | None = None,
          assignment: str = ASSIGNMENT) -> Path:
    """Put ``content`` (a notebook, str or bytes) in ``student``'s submission of
    ``assignment`` as ``name`` (by default the assignment's notebook name)."""
    path = folder(root, student, assignment) / (name or f"{assignment}.ipynb")
    if isinstance(content, dict):
        nbformat.write(content, path)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    return path


def case_files() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py")
                  if not p.name.startswith(("_", "test_", "conftest")) and p.name != "table.py")


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"hostile_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cases() -> dict[str, ModuleType]:
    """slug -> case module, in the README's order: by kind, then slug."""
    found = {p.stem: load(p) for p in case_files()}
    order = {kind: i for i, kind in enumerate(KINDS)}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[1].KIND, len(KINDS)), kv[0])))


def answered(root: Path, *, assignment: str = ASSIGNMENT, **changed: str):
    """The release of ``assignment`` with every solution filled in, except the answers given
    here (answer cell id -> source)."""
    answers = dict(course.solution_answers(assignment, root), **changed)
    return course.fill_answers(released(root, assignment), answers)


def solution(root: Path, cell: str, assignment: str = ASSIGNMENT) -> str:
    return course.solution_answers(assignment, root)[cell]


def cell_of(nb, grade_id: str):
    return next(c for c in nb.cells if course.nbgrader_meta(c).get("grade_id") == grade_id)


# -- feedback pages and the hidden tests ----------------------------------------------------


def squeeze(text: str) -> str:
    """Text without white space: a hidden line re-spaced or re-wrapped still counts."""
    return "".join(text.split())


def hidden_only_lines(root: Path, assignment: str = ASSIGNMENT) -> list[str]:
    """The lines of the hidden tests of ``assignment`` (at least 12 characters besides white
    space) that appear nowhere else in its source notebook: seeing one means seeing a
    hidden test."""
    nb = nbformat.read(course.source_notebook(assignment, root), as_version=4)
    hidden, outside = [], []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip() == course.HIDDEN_MARKERS[0]:
                inside = True
            elif line.strip() == course.HIDDEN_MARKERS[1]:
                inside = False
            elif inside:
                hidden.append(line.strip())
            else:
                outside.append(line)
    elsewhere = squeeze("\n".join(outside))
    return [line for line in hidden
            if len(squeeze(line)) >= 12 and squeeze(line) not in elsewhere]


def leaked(text: str, lines: list[str]) -> list[str]:
    """Which of ``lines`` ``text`` shows, white space aside."""
    squeezed = squeeze(text)
    return [line for line in lines if squeeze(line) in squeezed]


def page_text(path: Path) -> str:
    """What a reader of an HTML page sees: tags (syntax highlighting) removed."""
    return html.unescape(re.sub(r"<[^>]+>", "", Path(path).read_text()))


def feedback_pages(root: Path, student: str, assignment: str = ASSIGNMENT) -> dict[str, str]:
    """The text of ``student``'s feedback page as each route writes it: the course's
    ``python -m grader feedback`` and plain ``nbgrader generate_feedback`` (which the
    formgrader's button runs)."""
    from grader.__main__ import main

    page = Path(root) / "grading" / "feedback" / student / assignment / f"{assignment}.html"
    pages = {}
    assert main(["feedback", assignment, "--course", str(root), "--student", student,
                 "--force"]) == 0
    pages["python -m grader feedback"] = page_text(page)
    page.unlink()
    course.nbgrader("generate_feedback", assignment, "--student", student, "--force", root=root)
    pages["nbgrader generate_feedback"] = page_text(page)
    return pages


# answers that score 0 on their exercise: sequential where concurrency is asked for
SEQUENTIAL = '''async def download_all(download, delays):
    results = []
    for delay in delays:
        results.append(await download(delay))
    return results'''
