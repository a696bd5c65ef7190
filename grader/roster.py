"""The class list: a roster CSV into nbgrader's gradebook (its students table).

The CSV has a header row with ``id`` (or ``student_id``, the login or LMS id the
submissions carry) and any of ``first_name``, ``last_name``, ``email`` (nbgrader's own
columns, as ``nbgrader db student import`` reads them), or a single ``name`` column
("Ada Lovelace": the last word is the last name). Students are written with nbgrader's
``Gradebook.update_or_create_student``; an empty field leaves what the gradebook has.
Students on the roster then appear in the grades CSV and the class report, with "not
submitted" until they hand something in.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from . import nbgrader_app
from .collect import valid_student_id
from .gradebook import with_busy_timeout

FIELDS = ("first_name", "last_name", "email")


@dataclass
class RosterReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "line N: why"

    @property
    def exit_code(self) -> int:
        return 1 if self.refused else 0

    def lines(self) -> list[str]:
        out = [f"Roster: {len(self.added)} student(s) added, {len(self.updated)} updated, "
               f"{len(self.refused)} line(s) refused."]
        out += [f"  NOT imported: {r}" for r in self.refused]
        return out


def read(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """(students, problems) from a roster CSV."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        key = "id" if "id" in header else "student_id" if "student_id" in header else None
        if key is None:
            raise ValueError(f"{path} has no 'id' (or 'student_id') column; its header is "
                             f"{', '.join(header) or 'empty'}")
        students, problems, seen = [], [], set()
        for n, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()
                   if isinstance(v, str)}
            sid = row.get(key, "")
            if not sid:
                problems.append(f"line {n}: no id")
                continue
            if not valid_student_id(sid):
                problems.append(f"line {n}: '{sid}' cannot be a student id (letters, digits "
                                f"and . _ @ + - only)")
                continue
            if sid in seen:
                problems.append(f"line {n}: '{sid}' is listed twice")
                continue
            seen.add(sid)
            person = {f: row[f] for f in FIELDS if row.get(f)}
            if row.get("name") and not (person.get("first_name") or person.get("last_name")):
                first, _, last = row["name"].rpartition(" ")
                person["first_name"], person["last_name"] = (first, last) if first else (last, "")
            students.append({"id": sid, **person})
    return students, problems


def import_roster(root: Path, path: Path) -> RosterReport:
    from nbgrader.api import Gradebook, MissingEntry

    nbg = nbgrader_app.load(Path(root).resolve())
    students, problems = read(Path(path))
    report = RosterReport(refused=problems)
    with Gradebook(with_busy_timeout(nbg.db_url), nbg.course_id) as gb:
        for person in students:
            sid = person.pop("id")
            try:
                gb.find_student(sid)
                report.updated.append(sid)
            except MissingEntry:
                report.added.append(sid)
            gb.update_or_create_student(sid, **person)
    return report
