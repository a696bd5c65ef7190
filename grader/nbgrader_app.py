"""nbgrader itself, configured for a course root and run in this process.

``nbgrader autograde`` and friends read ``nbgrader_config.py`` (plus the user's Jupyter
config) through nbgrader's own application classes. :func:`load` does the same, so that
our commands honour every setting an instructor made for plain nbgrader: timeouts, late
penalty plugins, ``IgnorePattern``, ``LimitOutput``, extra preprocessors, ...
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config


@contextlib.contextmanager
def inside(root: Path) -> Iterator[None]:
    """Run the block with ``root`` as the working directory (nbgrader uses paths relative
    to the course root, and so does every command here)."""
    old = os.getcwd()
    os.chdir(root)
    try:
        yield
    finally:
        os.chdir(old)


class CaptureLog(logging.Handler):
    """Keeps nbgrader's warnings for the submission being processed, instead of
    printing them between the lines of the progress bar."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(record.getMessage())
        except Exception:  # a badly formatted log call must not break grading
            self.records.append(str(record.msg))

    def take(self) -> list[str]:
        out, self.records = self.records, []
        return out


@dataclass
class Nbgrader:
    """nbgrader's application, course directory and converters for one course root."""

    root: Path
    app: object
    log: CaptureLog = field(default_factory=CaptureLog)

    @property
    def coursedir(self):
        return self.app.coursedir

    @property
    def db_url(self) -> str:
        return self.app.coursedir.db_url

    @property
    def course_id(self) -> str:
        return self.app.coursedir.course_id

    def autograde_converter(self):
        from nbgrader.converters.autograde import Autograde

        return Autograde(coursedir=self.coursedir, parent=self.app)

    def feedback_converter(self):
        from nbgrader.converters.generate_feedback import GenerateFeedback

        return GenerateFeedback(coursedir=self.coursedir, parent=self.app)

    def path(self, directory: str, student: str, assignment: str) -> Path:
        """grading/<directory>/<student>/<assignment> as nbgrader formats it (relative)."""
        return Path(self.coursedir.format_path(directory, student, assignment))


def load(root: Path, overrides: dict | None = None) -> Nbgrader:
    """nbgrader configured exactly as ``nbgrader autograde`` would be when run in ``root``.

    ``overrides`` is traitlets config applied on top, e.g. ``{"Execute": {"timeout": 10}}``.
    """
    from nbgrader.apps.autogradeapp import AutogradeApp

    root = Path(root).resolve()
    with inside(root):
        app = AutogradeApp()
        app.initialize([], root=str(root))
        if overrides:
            app.update_config(Config(overrides))
    # nbgrader logs INFO lines for every file it touches; keep only warnings, per submission.
    nbg = Nbgrader(root=root, app=app)
    app.log.handlers[:] = [nbg.log]
    app.log.setLevel(logging.WARNING)
    app.log.propagate = False
    return nbg
