"""The course on disk: where assignments live and how to run nbgrader on them.

Everything here works on a *course root*: a folder holding ``nbgrader_config.py``,
``solutions/`` and ``notebooks/`` (the repository itself, or a copy of it in a
temporary folder for tests).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "solutions"
RELEASE = "notebooks"
ASSIGNMENT_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def assignments(root: Path = ROOT) -> list[str]:
    """The assignment ids (``NN_topic``) found in ``solutions/``, in course order."""
    src = Path(root) / SOURCE
    return sorted(p.name for p in src.iterdir() if p.is_dir() and ASSIGNMENT_RE.match(p.name))


def source_notebook(assignment: str, root: Path = ROOT) -> Path:
    return Path(root) / SOURCE / assignment / f"{assignment}.ipynb"


def release_notebook(assignment: str, root: Path = ROOT) -> Path:
    return Path(root) / RELEASE / assignment / f"{assignment}.ipynb"


def nbgrader_env() -> dict[str, str]:
    """The environment nbgrader needs. Importing the ``grader`` package already put this
    Python's scripts (alembic, jupyter) first on PATH, for in-process nbgrader calls too."""
    return dict(os.environ)


def nbgrader(*args: str, root: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course root and return the finished process."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root, env=nbgrader_env(), capture_output=True, text=True,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc


def copy_course(dest: Path, root: Path = ROOT, with_release: bool = True) -> Path:
    """Copy the parts of a course that nbgrader reads into ``dest`` and return it."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(root) / "nbgrader_config.py", dest / "nbgrader_config.py")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(Path(root) / SOURCE, dest / SOURCE, ignore=ignore, dirs_exist_ok=True)
    if with_release and (Path(root) / RELEASE).is_dir():
        shutil.copytree(Path(root) / RELEASE, dest / RELEASE, ignore=ignore, dirs_exist_ok=True)
    return dest


def release(ids: list[str] | None = None, root: Path = ROOT) -> list[Path]:
    """Regenerate the student notebooks of ``ids`` (default: all) with nbgrader."""
    ids = ids or assignments(root)
    unknown = sorted(set(ids) - set(assignments(root)))
    if unknown:
        raise ValueError(f"no such assignment in {SOURCE}/: {', '.join(unknown)}")
    for aid in ids:
        nbgrader("generate_assignment", aid, "--force", root=root)
    return [release_notebook(aid, root) for aid in ids]


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def strip_markers(source: str, markers: tuple[str, str] = SOLUTION_MARKERS) -> str:
    """The source with the marker lines removed (the code between them kept)."""
    return "\n".join(
        line for line in source.splitlines() if line.strip() not in markers
    )


def solution_answers(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """grade_id -> the instructor's answer for every solution cell of an assignment."""
    nb = nbformat.read(source_notebook(assignment, root), as_version=4)
    return {
        nbgrader_meta(c)["grade_id"]: strip_markers(c.source)
        for c in nb.cells
        if nbgrader_meta(c).get("solution")
    }


def fill_answers(nb, answers: dict[str, str]):
    """A copy of notebook ``nb`` with the solution cells named in ``answers`` replaced."""
    nb = nbformat.from_dict(nb)
    missing = set(answers)
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and gid in answers:
            cell.source = answers[gid]
            missing.discard(gid)
    if missing:
        raise KeyError(f"no solution cell named {sorted(missing)}")
    return nb


def submit(root: Path, assignment: str, student: str, nb) -> Path:
    """Place notebook ``nb`` as ``student``'s submission of ``assignment`` (nbgrader layout)."""
    dest = Path(root) / "grading" / "submitted" / student / assignment
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    return path


def read_scores(assignment: str, root: Path = ROOT) -> dict[str, dict[str, float]]:
    """student -> {grade cell id: score} for every graded submission of ``assignment``."""
    from nbgrader.api import Gradebook

    db_url = "sqlite:///" + str(Path(root) / "grading" / "gradebook.db")
    scores: dict[str, dict[str, float]] = {}
    with Gradebook(db_url) as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = scores.setdefault(sub.student_id, {})
            for nb in sub.notebooks:
                for grade in nb.grades:
                    cells[grade.name] = grade.score
    return scores


def exercises(nb) -> dict[str, list[tuple[str, float]]]:
    """solution cell id -> [(test cell id, points)], each test cell belonging to the
    nearest solution cell above it."""
    result: dict[str, list[tuple[str, float]]] = {}
    current = None
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            current = meta["grade_id"]
            result.setdefault(current, [])
        elif meta.get("grade") and current is not None:
            result[current].append((meta["grade_id"], float(meta.get("points", 0))))
    return result


POINTS_HEADING = re.compile(r"^#+\s.*\(\s*(\d+(?:\.\d+)?)\s*points?\s*\)", re.M)


def points_mismatches(nb) -> list[str]:
    """Where a "(N points)" heading disagrees with the points of the graded cells below
    it (up to the next such heading): one line per heading, empty if all agree."""
    sections: list[tuple[str, float, float]] = []  # heading, its points, the cells' points
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for match in POINTS_HEADING.finditer(cell.source):
                sections.append((match.group(0).lstrip("# "), float(match.group(1)), 0.0))
        meta = nbgrader_meta(cell)
        if meta.get("grade") and sections:
            heading, said, got = sections[-1]
            sections[-1] = (heading, said, got + float(meta.get("points") or 0))
    return [f"'{heading}': its cells have {got:g} points" for heading, said, got in sections
            if said != got]
