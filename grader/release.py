"""Release assignments with nbgrader's ``generate_assignment``, run in this process.

The same converter and configuration as ``nbgrader generate_assignment ID --force``
(``grader.course.release`` runs that command once per assignment); releasing every
assignment in one process saves nbgrader's start-up time for each of them.
"""

from __future__ import annotations

from pathlib import Path

from . import course, nbgrader_app


class ReleaseError(RuntimeError):
    pass


def release(root: Path = course.ROOT, ids: list[str] | None = None) -> list[Path]:
    """Regenerate the student notebooks of ``ids`` (default: all) and record the
    assignments in the gradebook; returns the released notebooks."""
    from nbgrader.apps.generateassignmentapp import GenerateAssignmentApp
    from nbgrader.converters import GenerateAssignment

    root = Path(root).resolve()
    known = course.assignments(root)
    ids = list(ids or known)
    unknown = sorted(set(ids) - set(known))
    if unknown:
        raise ValueError(f"no such assignment in {course.SOURCE}/: {', '.join(unknown)}")
    with nbgrader_app.inside(root):
        app = GenerateAssignmentApp()
        app.initialize([], root=str(root))
        log = nbgrader_app.CaptureLog()
        app.log.handlers[:] = [log]
        app.log.propagate = False
        for aid in ids:
            app.coursedir.assignment_id = aid
            converter = GenerateAssignment(coursedir=app.coursedir, parent=app)
            converter.force = True
            log.take()
            try:
                converter.start()
            except Exception as exc:
                details = "\n".join(log.take()[-5:])
                raise ReleaseError(f"nbgrader could not release {aid}: {exc}\n{details}") from exc
        from .late import apply_due_dates

        apply_due_dates(app.coursedir.db_url, app.coursedir.course_id, app.config)
    return [course.release_notebook(aid, root) for aid in ids]
