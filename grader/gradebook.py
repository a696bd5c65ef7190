"""The gradebook: nbgrader's SQLite database, written by one process only.

nbgrader's own code opens a fresh ``Gradebook`` (a new SQLAlchemy engine) for every step
and commits after every cell, so a submission's grades are many small transactions.
:func:`one_transaction` runs that same nbgrader code (``Autograde.init_assignment``,
``SaveAutoGrades``, ``AssignLatePenalties``) on one open gradebook and turns its commits
into a single commit at the end: a submission's rows are written all at once or not at all,
and nothing else in our process writes in between.

Worker processes never open the course's gradebook: they read a private snapshot
(:func:`snapshot`), which holds everything they read (source cells, kernelspecs) and
cannot lock the real file.
"""

from __future__ import annotations

import contextlib
import importlib
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Modules whose code opens ``Gradebook(db_url)`` to write grades; while a transaction is
# open their ``Gradebook`` name points at the shared one.
WRITERS = (
    "nbgrader.converters.autograde",
    "nbgrader.preprocessors.saveautogrades",
    "nbgrader.preprocessors.latesubmissions",
)
LOCK_RETRIES = 8


def sqlite_path(db_url: str) -> Path:
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise ValueError(f"only SQLite gradebooks are supported, not {db_url}")
    return Path(db_url[len(prefix):].split("?")[0])


def with_busy_timeout(db_url: str, seconds: float = 60) -> str:
    """The same database, waiting up to ``seconds`` for another program's lock
    (the formgrader, a plain nbgrader command) instead of failing at once."""
    sep = "&" if "?" in db_url else "?"
    return f"{db_url}{sep}timeout={seconds:g}"


def open_gradebook(db_url: str, course_id: str):
    from nbgrader.api import Gradebook

    return Gradebook(with_busy_timeout(db_url), course_id)


class _DeferredCommits:
    """A session whose ``commit`` only flushes: the real commit comes at the end."""

    def __init__(self, session) -> None:
        self._session = session

    def commit(self) -> None:
        self._session.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


class _Borrowed:
    """Stands in for ``Gradebook(...)`` inside nbgrader's code: the shared gradebook,
    which its ``with`` block must not close."""

    def __init__(self, gb) -> None:
        self._gb = gb

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def close(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gb, name)


@contextlib.contextmanager
def one_transaction(gb) -> Iterator[Any]:
    """Everything nbgrader writes inside the block is committed once, at its end, or
    rolled back if the block raises (Ctrl-C included)."""
    real = gb.db
    borrowed = _Borrowed(gb)
    modules = [importlib.import_module(name) for name in WRITERS]
    saved = [m.Gradebook for m in modules]
    gb.db = _DeferredCommits(real)
    for m in modules:
        m.Gradebook = lambda *args, **kwargs: borrowed
    try:
        with warnings.catch_warnings():
            # nbgrader builds a submission's rows through backrefs before adding them to
            # the session; on a long-lived session SQLAlchemy warns about it, harmlessly
            # (the rows are added right after).
            warnings.filterwarnings("ignore", message=".*not in session, add operation along")
            yield gb
        real.commit()
    except BaseException:
        real.rollback()
        raise
    finally:
        gb.db = real
        for m, original in zip(modules, saved, strict=True):
            m.Gradebook = original


def write(gb, work: Callable[[], Any], retries: int = LOCK_RETRIES) -> Any:
    """Run ``work`` in one transaction; if another program holds the database lock,
    roll back, wait and run it again (the rows are never half written nor lost)."""
    from sqlalchemy.exc import OperationalError

    for attempt in range(retries + 1):
        try:
            with one_transaction(gb):
                return work()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == retries:
                raise
            time.sleep(min(0.5 * 2**attempt, 10))
    raise AssertionError("unreachable")


def snapshot(db_url: str, dest: Path) -> str:
    """A consistent copy of the gradebook at ``dest``; returns its URL."""
    src = sqlite3.connect(str(sqlite_path(db_url)), timeout=60)
    dst = sqlite3.connect(str(dest))
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return "sqlite:///" + str(Path(dest).resolve())


def scores(db_url: str, course_id: str, assignment: str | None = None
           ) -> dict[tuple[str, str], dict[str, dict[str, Any]]]:
    """(assignment, student) -> {grade cell id: {score, auto_score, manual_score,
    max_score, needs_manual_grade, notebook}} straight from the gradebook."""
    from nbgrader.api import Gradebook

    out: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    with Gradebook(with_busy_timeout(db_url), course_id) as gb:
        names = [assignment] if assignment else [a.name for a in gb.assignments]
        for name in names:
            for sub in gb.assignment_submissions(name):
                cells = out.setdefault((name, sub.student_id), {})
                for nb in sub.notebooks:
                    for grade in nb.grades:
                        cells[grade.name] = {
                            "notebook": nb.name,
                            "score": grade.score,
                            "auto_score": grade.auto_score,
                            "manual_score": grade.manual_score,
                            "max_score": grade.max_score,
                            "needs_manual_grade": grade.needs_manual_grade,
                        }
    return out
