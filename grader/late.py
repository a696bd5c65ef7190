"""Due dates and the late penalty: set once, in ``nbgrader_config.py``.

* ``c.DueDates.dates`` maps an assignment to its due date (``"2026-03-06 23:59:00
  Europe/Paris"``; any form nbgrader's ``parse_utc`` reads). ``python -m grader release`` and
  ``python -m grader autograde`` write them into the gradebook (nbgrader's ``Assignment.
  duedate``, which the formgrader shows and plain ``nbgrader autograde`` uses). An assignment
  not named keeps whatever due date the gradebook has (set in the formgrader or with
  ``nbgrader db assignment add ID --duedate=...``).
* :class:`LatePenalty` is nbgrader's ``LateSubmissionPlugin`` with the course's policy:
  a late notebook loses ``percent_per_day`` percent of its score for every day (or part of a
  day) past the due date, after ``grace_minutes``. nbgrader's ``AssignLatePenalties``
  applies it to each notebook, on both routes, and the grades CSV shows it.

A submission's time is its ``timestamp.txt`` (written by nbgrader's exchange, or by
``python -m grader collect`` from the LMS file name when its pattern has a timestamp).
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Dict, Float
from traitlets.config import Configurable

DAY = 86400


class DueDates(Configurable):
    dates = Dict({}, help="assignment id -> due date, e.g. {'01_coroutines': "
                          "'2026-03-06 23:59:00 Europe/Paris'}").tag(config=True)


class LatePenalty(LateSubmissionPlugin):
    """A late notebook loses ``percent_per_day`` % of its score per day started."""

    percent_per_day = Float(10.0, help="percent of the score lost per day (or part of a "
                                       "day) late; 100 makes a late notebook score 0"
                            ).tag(config=True)
    grace_minutes = Float(0.0, help="minutes after the due date that do not count as "
                                    "late").tag(config=True)

    def days_late(self, total_seconds_late: float) -> int:
        late = total_seconds_late - self.grace_minutes * 60
        return math.ceil(late / DAY) if late > 0 else 0

    def late_submission_penalty(self, student_id: str, score: float,
                                total_seconds_late: float) -> float | None:
        days = self.days_late(total_seconds_late)
        if not days or not score:
            return 0.0
        return round(score * min(1.0, days * self.percent_per_day / 100), 2)


def due_dates(config) -> dict[str, str]:
    return dict(DueDates(config=config).dates)


def apply_due_dates(db_url: str, course_id: str, config) -> list[str]:
    """Write the configured due dates into the gradebook (nbgrader's API), only where they
    differ; returns the assignments changed. Assignments not yet in the gradebook are left
    for ``release`` to create."""
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.utils import parse_utc

    from .gradebook import with_busy_timeout

    wanted = due_dates(config)
    if not wanted:
        return []
    changed = []
    with Gradebook(with_busy_timeout(db_url), course_id) as gb:
        for name, when in sorted(wanted.items()):
            try:
                assignment = gb.find_assignment(name)
            except MissingEntry:
                continue
            due = parse_utc(when) if when else None
            if assignment.duedate != due:
                gb.update_or_create_assignment(name, duedate=due)
                changed.append(name)
    return changed
