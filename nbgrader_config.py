"""nbgrader configuration for the asyncio course.

Run plain nbgrader commands from this folder (the repository root), for example
``nbgrader generate_assignment 01_coroutines`` or ``nbgrader autograde 01_coroutines``.
The instructor's notebooks live in ``solutions/`` and the student release in
``notebooks/``; everything produced by grading goes under ``grading/`` (not committed).
"""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "asyncio-course"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
c.CourseDirectory.solution_directory = os.path.join("grading", "solution")
# The gradebook is the record of every grade; nbgrader creates it on first use.
os.makedirs(os.path.join(HERE, "grading"), exist_ok=True)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "grading", "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# Grading runs the released notebook with the students' answers in it (inserted, moved or
# edited cells do not count), in a sandboxed kernel, with a guard against tampering; see
# grader/preprocessors.py. Plain `nbgrader autograde` and `python -m grader autograde` both
# use these lists. They live in this folder, so nbgrader finds them from here even where the
# course is not installed as a package.
import sys  # noqa: E402

if HERE not in sys.path:
    sys.path.insert(0, HERE)

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from grader.feedback import HideHiddenTests, ResultsSummary, StripPaths  # noqa: E402
from grader.preprocessors import GuardedExecute, RebuildFromRelease  # noqa: E402

c.Autograde.sanitize_preprocessors = [RebuildFromRelease, ClearOutput, DeduplicateIds,
                                      OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [GuardedExecute, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties,
                                       CheckCellMetadata]
# A whole notebook may run this long before the cells left are scored 0.
c.GuardedExecute.notebook_timeout = 300

# Feedback pages (plain `nbgrader generate_feedback`, the formgrader's button and
# `python -m grader feedback`) never show hidden tests: not their code, nor any output that
# quotes it; a failing check's message stays. nbgrader's own list is GetGrades and
# CSSHTMLHeaderPreprocessor; c.HideHiddenTests.enabled = False shows hidden tests again.
# StripPaths leaves the grading machine's folders out of tracebacks and outputs.
c.GenerateFeedback.preprocessors = [StripPaths, HideHiddenTests, GetGrades, ResultsSummary,
                                    CSSHTMLHeaderPreprocessor]

# Due dates and the late penalty: the one place to set them (grader/late.py). Due dates go
# into the gradebook when `python -m grader release` or `autograde` runs (the formgrader
# shows them; an assignment not listed keeps the due date the gradebook has). A submission's
# time is its timestamp.txt. A late notebook loses percent_per_day % of its score for every
# day or part of a day late, on every route (nbgrader's AssignLatePenalties runs the plugin).
from grader.late import LatePenalty  # noqa: E402

c.DueDates.dates = {
    # "01_coroutines": "2026-03-06 23:59:00 Europe/Paris",
}
c.AssignLatePenalties.plugin_class = LatePenalty
c.LatePenalty.percent_per_day = 10
c.LatePenalty.grace_minutes = 15

# Exercises use small delays; a healthy notebook runs in seconds. A cell that runs longer
# than this is stuck (a deadlock or a blocking call) and is stopped.
c.ExecutePreprocessor.timeout = 60
c.Execute.timeout = 60

# Notebooks run on the course's own Python environment.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
