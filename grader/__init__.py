"""grader: instructor tooling on top of nbgrader (``python -m grader --help``).

Modules, in the order a grading round uses them:

- ``course``: the course on disk, and plain nbgrader runs (used by the tests too);
- ``release``: nbgrader's generate_assignment, in process;
- ``collect``: submissions in from a folder tree or an LMS zip;
- ``autograde``: the parallel autograder, the only writer of the gradebook;
- ``pool`` and ``execute``: worker processes, and grading one submission in a fresh kernel;
- ``gradebook``, ``records``, ``integrity``: the gradebook in one transaction per
  submission, what happened to each submission, what looks tampered with;
- ``feedback`` and ``report``: pages for students, numbers for the instructor.
"""

import os as _os
import sys as _sys
from pathlib import Path as _Path

# nbgrader starts helper programs by name (``alembic`` when it opens a new gradebook): make
# sure the ones installed beside this Python are found even when the environment is not
# activated (``.venv/bin/python -m grader ...``).
_bin = str(_Path(_sys.executable).parent)
if _bin not in _os.environ.get("PATH", "").split(_os.pathsep):
    _os.environ["PATH"] = _bin + _os.pathsep + _os.environ.get("PATH", "")
