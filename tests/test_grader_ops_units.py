"""Small parts of class operations, without kernels: paths left out of feedback, the
results table, nbgrader's checksum warnings explained, the roster reader."""

from __future__ import annotations

import os
import sysconfig

from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader import records, roster
from grader.feedback import ResultsSummary, StripPaths


def test_feedback_leaves_the_machines_folders_out(tmp_path, monkeypatch):
    lib = sysconfig.get_paths()["purelib"]
    stdlib = sysconfig.get_paths()["stdlib"]
    course = tmp_path / "course"
    course.mkdir()
    monkeypatch.chdir(course)  # nbgrader runs in the course folder
    traceback = [f"\x1b[0;31mFile \x1b[0;32m{stdlib}/asyncio/tasks.py:12\x1b[0m, in wait",
                 f"File {lib}/aiohttp/client.py:3, in get",
                 f"File {course}/asynclab/server.py:9",
                 "File /srv/grading/tmp/grader-x1/helper.py:2"]
    cell = new_code_cell("x", outputs=[
        new_output("error", ename="OSError", evalue=f"cannot open {course}/data/prices.csv",
                   traceback=traceback),
        new_output("stream", name="stdout", text="saved to /var/lib/course/out.txt\n"
                                                 "see http://127.0.0.1:8080/a/b\n")])
    nb, _ = StripPaths().preprocess(new_notebook(cells=[cell]), {})
    error, stream = nb.cells[0].outputs
    text = "\n".join(error.traceback) + error.evalue + stream.text
    for folder in (str(course), lib, stdlib, "/srv/grading", "/var/lib"):
        assert folder not in text, text
    assert "asyncio/tasks.py:12" in error.traceback[0]
    assert "aiohttp/client.py:3" in error.traceback[1]
    assert error.traceback[2] == "File asynclab/server.py:9"
    assert error.traceback[3] == "File .../helper.py:2"
    assert error.evalue == "cannot open data/prices.csv"
    assert stream.text == "saved to .../out.txt\nsee http://127.0.0.1:8080/a/b\n"
    assert os.getcwd() == str(course)


def test_the_results_table_is_padded_wraps_and_escapes_messages():
    meta = {"grade": True, "solution": False, "grade_id": "test_x", "points": 2, "score": 0}
    cell = new_code_cell("assert f()", metadata={"nbgrader": meta}, outputs=[
        new_output("error", ename="AssertionError", evalue="a | b <script> " + "x" * 300,
                   traceback=[])])
    nb, _ = ResultsSummary().preprocess(new_notebook(cells=[cell]), {})
    text = nb.cells[0].source
    assert "padding:" in text and "pre-wrap" in text and "overflow-wrap:anywhere" in text
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert "\n\n" not in text.split("<style>", 1)[1]  # one HTML block for Markdown
    assert "0&nbsp;/&nbsp;2" in text


def test_checksum_warnings_are_explained_once():
    said = ["Attribute 'checksum' for cell test_a has changed! (should be: 1, got: 2)",
            "something else",
            "Attribute 'checksum' for cell test_b has changed! (should be: 3, got: 4)"]
    out = records.explain_checksums(said)
    assert out[0] == "something else" and len(out) == 2
    assert "2 cell(s) (test_a, test_b): expected, not tampering" in out[1]
    assert records.explain_checksums(["other"]) == ["other"]


def test_the_roster_reads_nbgraders_columns_or_a_name(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeffStudent_ID,Name,Email\nada,Ada King Lovelace,ada@x.org\n"
                    "bob,,\n,No Id,\nada,Again,\n../x,Bad,\n")
    students, problems = roster.read(path)
    assert students == [{"id": "ada", "first_name": "Ada King", "last_name": "Lovelace",
                         "email": "ada@x.org"}, {"id": "bob"}]
    assert problems == ["line 4: no id", "line 5: 'ada' is listed twice",
                        "line 6: '../x' cannot be a student id (letters, digits and . _ @ + - "
                        "only)"]


def test_ruff_lints_the_course_files_and_not_an_instructors_stray_files(tmp_path):
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shutil.copy2(root / "pyproject.toml", tmp_path / "pyproject.toml")
    bad = "import os\n"  # F401: imported and never used
    for name in ("scratch.py", "downloads/ada_helper.py", "grader/new_module.py",
                 "tests/test_new.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(bad)
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", ".", "--output-format",
                           "concise"], cwd=tmp_path, capture_output=True, text=True)
    flagged = {line.split(":")[0] for line in proc.stdout.splitlines() if ".py:" in line}
    assert flagged == {"grader/new_module.py", "tests/test_new.py"}, proc.stdout
