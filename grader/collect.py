"""Bring submissions into ``grading/submitted/<student>/<assignment>/``.

Two kinds of source, for one assignment at a time:

* **a folder in nbgrader's layout**, ``<student>/<assignment>/<notebook>.ipynb`` (what
  ``nbgrader collect`` or a shared drive produces);
* **an LMS download**: a zip file (archives inside it are unpacked too) or a folder of
  files named after their student, matched with nbgrader's zip-collect conventions: the
  ``FileNameCollectorPlugin`` and its ``named_regexp`` (from nbgrader_config.py, or
  ``--pattern``), which must name ``student_id`` and ``file_id`` and may name
  ``timestamp``. Without one, files are expected as ``<student>_<notebook>.ipynb``.

Every file that is not collected is reported by name with the reason (no student in its
name, a notebook name the assignment does not have, two versions and no way to tell which
is newer...). A file that is not a notebook (a ``.py`` named after the notebook, a
``.ipynb`` that is not valid JSON nbformat) is refused at once, with what it is. Refusals
whose student is known are kept in ``grading/refused/<assignment>.json``, so that the grades
CSV and the class report list that student with the reason (see :mod:`grader.standing`).
A submission that was already graded is never replaced silently: collect
refuses unless ``force``, and keeps a copy of what it replaces in ``grading/replaced/``.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import inputs, nbgrader_app, records

# <anything>/<student id without "_">_<file name>, e.g. "ada_01_coroutines.ipynb"
DEFAULT_PATTERN = r".*/(?P<student_id>[^/_]+)_(?P<file_id>[^/]+)$"
JUNK = ("__MACOSX", ".DS_Store", ".ipynb_checkpoints", "Thumbs.db")
REFUSED = Path("grading") / "refused"


@dataclass
class Incoming:
    source: Path
    student: str
    name: str  # file name in the submission folder
    timestamp: datetime | None = None
    shown: str = ""  # as the instructor knows it: its path in the source


@dataclass
class CollectReport:
    assignment: str
    collected: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # replaced a submission not graded yet
    regraded: list[str] = field(default_factory=list)  # replaced a graded one (--force)
    unchanged: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # graded: not replaced without --force
    not_collected: list[str] = field(default_factory=list)  # file: reason
    ignored: list[str] = field(default_factory=list)  # not submissions (README, __MACOSX...)
    backup: Path | None = None
    # student -> why their files were refused (for the grades CSV and the report)
    refusals: dict[str, list[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # students with a file in this source

    @property
    def exit_code(self) -> int:
        return 1 if (self.refused or self.not_collected) else 0

    def lines(self) -> list[str]:
        out = [f"{self.assignment}: {len(self.collected)} new, {len(self.updated)} updated, "
               f"{len(self.regraded)} replaced after grading, {len(self.unchanged)} unchanged, "
               f"{len(self.refused) + len(self.not_collected)} not collected."]
        for title, items in (("Collected", self.collected), ("Updated (not graded yet)", self.updated),
                             ("Replaced although already graded (--force)", self.regraded),
                             ("NOT replaced: already graded (use --force to replace and "
                              "regrade)", self.refused),
                             ("NOT collected", self.not_collected),
                             ("Ignored (not submissions)", self.ignored)):
            if items:
                out.append(f"{title}:")
                out += [f"  {item}" for item in items]
        if self.backup and (self.updated or self.regraded):
            out.append(f"The files replaced are kept in {self.backup}")
        return out


STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


def valid_student_id(student: str) -> bool:
    """A student id is a folder name: nothing that could point elsewhere."""
    return bool(STUDENT_ID.match(student)) and ".." not in student


def is_junk(path: Path) -> bool:
    return any(part in JUNK or part.startswith(".") for part in path.parts)


class Collector:
    def __init__(self, root: Path, assignment: str, pattern: str | None = None,
                 force: bool = False):
        self.root = Path(root).resolve()
        self.assignment = assignment
        self.force = force
        self.nbg = nbgrader_app.load(self.root)
        cd = self.nbg.coursedir
        release = self.root / cd.release_directory / assignment
        source = self.root / cd.source_directory / assignment
        if not release.is_dir() and not source.is_dir():
            raise ValueError(f"no assignment '{assignment}' in {cd.source_directory}/")
        self.notebooks = sorted(p.name for p in release.glob("*.ipynb")) or sorted(
            p.name for p in source.glob("*.ipynb"))
        self.plugin = self._plugin(pattern)
        self.report = CollectReport(assignment)

    def _plugin(self, pattern: str | None):
        from nbgrader.plugins import FileNameCollectorPlugin

        cfg = self.nbg.app.config
        cls = FileNameCollectorPlugin
        configured = cfg.get("ZipCollectApp", {}).get("collector_plugin")
        if configured:
            if isinstance(configured, str):
                import importlib

                module, name = configured.rsplit(".", 1)
                cls = getattr(importlib.import_module(module), name)
            else:
                cls = configured
        plugin = cls(parent=self.nbg.app)
        if pattern:
            plugin.named_regexp = pattern
        elif not plugin.named_regexp:
            plugin.named_regexp = DEFAULT_PATTERN
        return plugin

    # -- reading the source -------------------------------------------------------------

    def gather(self, source: Path, tmp: Path) -> list[Incoming]:
        """The files of ``source`` (a folder, or an archive unpacked into ``tmp``)."""
        source = Path(source).resolve()
        if not source.exists():
            raise ValueError(f"{source} does not exist")
        folder = self._extract(source, Path(tmp)) if source.is_file() else source
        tree = sorted(p for p in folder.glob(f"*/{self.assignment}") if p.is_dir()) or sorted(
            p for p in folder.glob(f"*/*/{self.assignment}") if p.is_dir())
        return self._from_tree(folder, tree) if tree else self._from_names(folder)

    def _extract(self, archive: Path, tmp: Path) -> Path:
        from nbgrader.plugins import ExtractorPlugin

        extractor = ExtractorPlugin(parent=self.nbg.app)
        if archive.suffix not in extractor.zip_ext:
            raise ValueError(f"{archive.name} is not an archive ({', '.join(extractor.zip_ext)}) "
                             f"nor a folder")
        (tmp / "archive").mkdir()
        shutil.copy2(archive, tmp / "archive" / archive.name)
        (tmp / "extracted").mkdir()
        extractor.extract(str(tmp / "archive"), str(tmp / "extracted"))
        return tmp / "extracted"

    def _from_tree(self, folder: Path, tree: list[Path]) -> list[Incoming]:
        """nbgrader's layout: <student>/<assignment>/<files>."""
        items = []
        for sub in tree:
            student = sub.parent.name
            if not valid_student_id(student):
                self.report.not_collected.append(
                    f"{sub.relative_to(folder)}: '{student}' cannot be a student id")
                continue
            stamp_file = sub / "timestamp.txt"  # nbgrader's exchange writes it: read once
            stamp = (self._parse_time(stamp_file.read_text().strip(),
                                      stamp_file.relative_to(folder))
                     if stamp_file.is_file() else None)
            for path in sorted(p for p in sub.rglob("*") if p.is_file()):
                rel = path.relative_to(sub)
                if is_junk(rel) or path == stamp_file:
                    continue
                shown = path.relative_to(folder)
                self.report.seen.add(student)
                if path.suffix == ".ipynb" and str(rel) not in self.notebooks:
                    self._misnamed(shown, str(rel), student)
                    continue
                items.append(Incoming(path, student, str(rel), stamp, str(shown)))
        return items

    def _from_names(self, folder: Path) -> list[Incoming]:
        """An LMS download: whose file it is, is in its name."""
        chosen: dict[tuple[str, str], Incoming] = {}
        conflicts: dict[tuple[str, str], list[Path]] = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            shown = path.relative_to(folder)
            if is_junk(shown):
                continue
            if path.suffix not in self.plugin.valid_ext:
                student = self._owner_of_other_file(path)
                if student:  # "<student>_<notebook>.py": meant as the submission
                    self.report.seen.add(student)
                    self._refuse(f"{shown}: not a notebook (the assignment wants "
                                 f"{', '.join(self.notebooks)})", student,
                                 f"refused: not a notebook ({path.name})")
                else:
                    self.report.ignored.append(f"{shown} (not a notebook)")
                continue
            info = self.plugin.collect(str(path))
            if not info or not info.get("student_id") or not info.get("file_id"):
                self.report.not_collected.append(
                    f"{shown}: its name does not say whose it is (expected "
                    f"{self._expected()})")
                continue
            if not valid_student_id(info["student_id"]):
                self.report.not_collected.append(
                    f"{shown}: '{info['student_id']}' cannot be a student id (letters, digits "
                    f"and . _ @ + - only)")
                continue
            name = os.path.splitext(info["file_id"])[0] + path.suffix
            self.report.seen.add(info["student_id"])
            if path.suffix == ".ipynb" and name not in self.notebooks:
                self._misnamed(shown, name, info["student_id"])
                continue
            stamp = self._parse_time(info.get("timestamp"), shown)
            item = Incoming(path, info["student_id"], name, stamp, str(shown))
            key = (item.student, item.name)
            old = chosen.get(key)
            if old is None:
                chosen[key] = item
            elif old.timestamp and item.timestamp:
                if item.timestamp >= old.timestamp:
                    chosen[key] = item
                self.report.ignored.append(
                    f"{(old if chosen[key] is item else item).source.relative_to(folder)} "
                    f"(an older version of {item.student}'s {item.name})")
            else:
                conflicts.setdefault(key, [old.source]).append(path)
        for (student, name), paths in conflicts.items():
            chosen.pop((student, name), None)
            listed = ", ".join(str(p.relative_to(folder)) for p in paths)
            self.report.not_collected.append(
                f"{listed}: {len(paths)} files are {student}'s {name} and none says when it was "
                f"submitted; keep one and collect again")
        return list(chosen.values())

    def _expected(self) -> str:
        if self.plugin.named_regexp == DEFAULT_PATTERN:
            return f"<student>_{self.notebooks[0] if self.notebooks else '<notebook>'}"
        return f"a name matching {self.plugin.named_regexp!r}"

    def _owner_of_other_file(self, path: Path) -> str | None:
        """The student of a file that is not a notebook but is named like one of this
        assignment's submissions (``eve_03_gather.py``), or None (a README, notes...)."""
        info = self.plugin._match(str(path))
        if not info or not info.get("student_id") or not info.get("file_id"):
            return None
        stems = {os.path.splitext(n)[0] for n in self.notebooks}
        stem = os.path.splitext(os.path.basename(info["file_id"]))[0]
        if stem in stems and valid_student_id(info["student_id"]):
            return info["student_id"]
        return None

    def _refuse(self, message: str, student: str | None, reason: str) -> None:
        """Leave a file out: ``message`` for the instructor now, ``reason`` (short) for the
        student's row of the grades CSV and the report."""
        self.report.not_collected.append(message)
        if student:
            self.report.refusals.setdefault(student, []).append(reason)

    def _misnamed(self, shown: Path, name: str, student: str | None = None) -> None:
        wanted = ", ".join(self.notebooks) or "?"
        hint = ""
        try:
            from rapidfuzz import process

            best = process.extractOne(name, self.notebooks)
            if best and best[1] >= 60:
                hint = f"; if it is {best[0]}, rename it and collect again"
        except ImportError:
            pass
        self._refuse(f"{shown}: '{name}' is not a notebook of {self.assignment} (expected "
                     f"{wanted}){hint}", student,
                     f"renamed file refused: {Path(shown).name} (expected {wanted})")

    def _parse_time(self, value, shown) -> datetime | None:
        from nbgrader.utils import parse_utc

        if not value:
            return None
        if isinstance(value, datetime):
            return value
        try:
            return parse_utc(value)
        except (ValueError, OverflowError):
            self.report.ignored.append(
                f"{shown}: unreadable submission time {value!r}: the files are collected, but "
                "no late penalty can apply to them")
            return None

    # -- writing ------------------------------------------------------------------------

    def graded(self, student: str) -> bool:
        cd = self.nbg.coursedir
        rec = records.load(self.root, self.assignment, student)
        if rec is not None and rec.status == records.GRADED:
            return True
        out = self.root / self.nbg.path(cd.autograded_directory, student, self.assignment)
        return any(out.glob("*.ipynb"))

    def transfer(self, items: list[Incoming]) -> CollectReport:
        cd = self.nbg.coursedir
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup_root = self.root / "grading" / "replaced" / stamp
        by_student: dict[str, list[Incoming]] = {}
        for item in items:
            by_student.setdefault(item.student, []).append(item)
        limit = inputs.max_bytes(self.nbg.app.config)
        for student in sorted(by_student):
            kept = []
            for f in by_student[student]:
                why = inputs.problem(f.source, limit) if f.name.endswith(".ipynb") else None
                if why:  # said now, not when grading fails
                    shown = f.shown or f.source.name
                    self._refuse(f"{shown}: not a notebook: {why}", student,
                                 f"refused: not a notebook ({Path(shown).name}: {why})")
                else:
                    kept.append(f)
            if kept:
                by_student[student] = kept
            else:
                del by_student[student]
        for student, files in sorted(by_student.items()):
            dest = self.root / self.nbg.path(cd.submitted_directory, student, self.assignment)
            graded = self.graded(student)
            changed = [f for f in files
                       if not ((dest / f.name).is_file() and filecmp.cmp(f.source, dest / f.name,
                                                                         shallow=False))]
            label = f"{student}: " + ", ".join(f.name for f in files)
            if not changed:
                self.report.unchanged.append(label)
                continue
            replacing = [f for f in changed if (dest / f.name).exists()]
            if replacing and graded and not self.force:
                self.report.refused.append(
                    f"{student}: {', '.join(f.name for f in replacing)} differs from the "
                    f"submission already graded")
                continue
            if replacing:
                keep = backup_root / student / self.assignment
                keep.mkdir(parents=True, exist_ok=True)
                for f in replacing:
                    shutil.copy2(dest / f.name, keep / f.name)
                if (dest / "timestamp.txt").is_file():
                    shutil.copy2(dest / "timestamp.txt", keep / "timestamp.txt")
                self.report.backup = backup_root
            dest.mkdir(parents=True, exist_ok=True)
            for f in changed:
                (dest / f.name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f.source, dest / f.name)
            times = [f.timestamp for f in files if f.timestamp]
            if times:
                (dest / "timestamp.txt").write_text(max(times).isoformat(" "))
            if not replacing:
                self.report.collected.append(label)
            elif graded:
                self.report.regraded.append(label)
            else:
                self.report.updated.append(label)
        save_refusals(self.root, self.assignment, self.report)
        return self.report


def refusals_path(root: Path, assignment: str) -> Path:
    return Path(root) / REFUSED / f"{assignment}.json"


def load_refusals(root: Path, assignment: str) -> dict[str, list[str]]:
    """student -> why collect refused their files of ``assignment`` (latest collect
    that saw the student)."""
    try:
        data = json.loads(refusals_path(root, assignment).read_text())
    except (OSError, ValueError):
        return {}
    students = data.get("students", {}) if isinstance(data, dict) else {}
    return {str(s): [str(r) for r in why] for s, why in students.items() if isinstance(why, list)}


def save_refusals(root: Path, assignment: str, report: CollectReport) -> None:
    """Keep this run's refusals: a student seen in this source gets this run's reasons
    (none if all went in), the others keep theirs."""
    known = load_refusals(root, assignment)
    for student in report.seen | set(report.refusals):
        known.pop(student, None)
    known.update(report.refusals)
    dest = refusals_path(root, assignment)
    if not known and not dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"students": known}, indent=1, sort_keys=True))
    os.replace(tmp, dest)


def collect(root: Path, assignment: str, source: Path, pattern: str | None = None,
            force: bool = False) -> CollectReport:
    """Collect ``assignment``'s submissions from ``source`` into the course ``root``."""
    collector = Collector(root, assignment, pattern, force)
    with tempfile.TemporaryDirectory(prefix="grader-collect-") as tmp:
        return collector.transfer(collector.gather(source, Path(tmp)))
