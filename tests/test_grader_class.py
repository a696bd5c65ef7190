"""Class operations with real nbgrader, real kernels and real files: nobody vanishes from
the grades CSV or the report, whatever went wrong with their file; the roster feeds the
CSV; a late submission loses what the course's policy in nbgrader_config.py says."""

from __future__ import annotations

import csv
import html
import math
import re
import zipfile
from pathlib import Path

import pytest
from grader_fixtures import TINY, add_tiny_assignment, copy_tree, submit_case
from nbgrader.api import Gradebook

from grader import course, nbgrader_app, records
from grader.__main__ import main

pytestmark = pytest.mark.xdist_group("grader")

DUE = "2026-01-10 12:00:00 UTC"
ON_TIME = "20260110T100000"
LATE = "20260113T000000"  # 2.5 days after the due date
LATE_SECONDS = 2.5 * 86400
LATER = "02_event_loop"
PATTERN = r".*/(?P<student_id>[a-z]+)_(?P<timestamp>\d{8}T\d{6})_(?P<file_id>.+)$"


@pytest.fixture
def course_root(tmp_path) -> Path:
    root = course.copy_course(tmp_path / "course", with_release=False)
    with open(root / "nbgrader_config.py", "a") as fh:
        fh.write(f"\nc.DueDates.dates = {{{TINY!r}: {DUE!r}}}\n")
    add_tiny_assignment(root)
    nbg = nbgrader_app.load(root)
    with Gradebook(nbg.db_url, nbg.course_id) as gb:  # an assignment not handed out yet
        gb.update_or_create_assignment(LATER)
    return root


def page_rows(report: str, assignment: str) -> list[list[str]]:
    """The rows of the report's table of students for ``assignment``."""
    table = re.search(rf"<table id='students-{assignment}'>(.*?)</table>", report, re.S)
    assert table, "the report has no table of students"
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]
    return [[html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)]
            for r in rows]


def test_every_student_appears_once_with_the_reason(course_root, tmp_path, capsys):
    root = course_root
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\n"
                      "ada,Ada Lovelace,ada@example.org\n"
                      "fay,Fay Wray,fay@example.org\n"
                      "not a valid id,Nobody,\n")
    assert main(["roster", str(roster), "--course", str(root)]) == 1  # one line refused
    out = capsys.readouterr().out
    assert "2 student(s) added" in out and "'not a valid id' cannot be a student id" in out

    scratch = copy_tree(root, tmp_path / "scratch")
    solved = submit_case(scratch, TINY, "s", "solved").read_bytes()
    untouched = course.release_notebook(TINY, root).read_bytes()
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"ada_{ON_TIME}_{TINY}.ipynb", solved)
        zf.writestr(f"bob_{ON_TIME}_{TINY} (1).ipynb", solved)  # renamed by the LMS
        zf.writestr(f"cy_{ON_TIME}_{TINY}.py", "def double(x):\n    return 2 * x\n")
        zf.writestr(f"dan_{ON_TIME}_{TINY}.ipynb", untouched)
        zf.writestr(f"eve_{LATE}_{TINY}.ipynb", solved)
        zf.writestr(f"gus_{ON_TIME}_{TINY}.ipynb", "print('hello')\n")  # Python, not JSON
        zf.writestr("README.txt", "exported by the LMS")
    assert main(["collect", TINY, str(archive), "--pattern", PATTERN,
                 "--course", str(root)]) == 1
    out = capsys.readouterr().out
    # collect says at once what it refused, and why
    assert f"cy_{ON_TIME}_{TINY}.py: not a notebook" in out
    assert f"gus_{ON_TIME}_{TINY}.ipynb: not a notebook: it is not valid JSON" in out
    assert f"bob_{ON_TIME}_{TINY} (1).ipynb" in out and "rename it" in out
    assert "README.txt (not a notebook)" in out
    assert not (root / "grading" / "submitted" / "gus").exists()
    # a file put in place by hand (or by plain nbgrader collect) is not checked on the way
    submit_case(root, TINY, "ivy", "invalid_json")

    assert main(["autograde", "--course", str(root), "--no-progress", "--jobs", "2"]) == 1
    assert "3 graded, 1 failed" in capsys.readouterr().out

    # nbgrader's checksum warning for each test cell with hidden tests is explained
    warnings = records.load(root, TINY, "ada").warnings
    assert any("expected, not tampering" in w and "test_double, test_fetch" in w
               for w in warnings), warnings
    assert not any(w.startswith("Attribute 'checksum'") for w in warnings), warnings

    assert main(["export", "--course", str(root)]) == 0
    assert main(["report", "--course", str(root)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(open(root / "grading" / "grades.csv")))
    students = ["ada", "bob", "cy", "dan", "eve", "fay", "gus", "ivy"]
    assert sorted(r["student_id"] for r in rows) == students  # each exactly once
    assert {r["assignment"] for r in rows} == {TINY}  # LATER has no submissions
    by = {r["student_id"]: r for r in rows}
    config = nbgrader_app.load(root).app.config
    percent, grace = config.LatePenalty.percent_per_day, config.LatePenalty.grace_minutes
    penalty = 5.0 * min(1.0, math.ceil((LATE_SECONDS - grace * 60) / 86400) * percent / 100)
    assert penalty > 0
    want = {
        "ada": (5.0, ""),
        "bob": (0.0, f"renamed file refused: bob_{ON_TIME}_{TINY} (1).ipynb"),
        "cy": (0.0, f"refused: not a notebook (cy_{ON_TIME}_{TINY}.py)"),
        "dan": (0.0, ""),
        "eve": (5.0 - penalty, f"late (2.5 days): -{penalty:g} points"),
        "fay": (0.0, "not submitted"),
        "gus": (0.0, f"refused: not a notebook (gus_{ON_TIME}_{TINY}.ipynb: it is not valid JSON"),
        "ivy": (0.0, "could not be graded: grading/submitted/ivy/90_tiny/90_tiny.ipynb cannot "
                     "be graded: it is not valid JSON"),
    }
    for student, (score, reason) in want.items():
        row = by[student]
        assert float(row["score"]) == score, (student, row)
        assert row["reason"].startswith(reason) and (reason or not row["reason"]), (student, row)
    assert float(by["eve"]["late_submission_penalty"]) == penalty
    assert by["ada"]["email"] == "ada@example.org" and by["ada"]["last_name"] == "Lovelace"
    assert by["fay"]["first_name"] == "Fay"

    report = (root / "grading" / "report" / "index.html").read_text()
    table = page_rows(report, TINY)
    assert sorted(r[0] for r in table) == students
    states = {r[0]: r[1] for r in table}
    assert states == {"ada": "graded", "bob": "refused at collect", "cy": "refused at collect",
                      "dan": "graded", "eve": "graded", "fay": "not submitted",
                      "gus": "refused at collect", "ivy": "could not be graded"}
    for r in table:
        assert r[3] == html.unescape(html.escape(by[r[0]]["reason"])), r
        if r[1] == "graded":  # the same score as the CSV, late penalty included
            assert float(r[2]) == float(by[r[0]]["score"]), (r, by[r[0]])
    # the counts agree with each other and with the lists
    summary = re.search(rf"<tr><td>{TINY}</td>((?:<td>[^<]*</td>)+)</tr>", report).group(1)
    counts = re.findall(r"<td>([^<]*)</td>", summary)[:5]
    assert counts == ["3", "1", "3", "0", "1"], counts
    assert "Could not be graded (1)" in report and "Refused at collect (3)" in report
    assert LATER not in report  # nothing submitted: not padded out
    assert main(["report", "--all", "--course", str(root)]) == 0
    assert LATER in (root / "grading" / "report" / "index.html").read_text()
    assert main(["export", "--all", "--course", str(root)]) == 0
    assert LATER in {r["assignment"] for r in
                     csv.DictReader(open(root / "grading" / "grades.csv"))}

    # a file that is a notebook after all, collected again, takes the refusal away
    fixed = tmp_path / "fixed.zip"
    with zipfile.ZipFile(fixed, "w") as zf:
        zf.writestr(f"cy_{ON_TIME}_{TINY}.ipynb", solved)
    assert main(["collect", TINY, str(fixed), "--pattern", PATTERN, "--course", str(root)]) == 0
    assert main(["export", "--course", str(root)]) == 0
    row = next(r for r in csv.DictReader(open(root / "grading" / "grades.csv"))
               if r["student_id"] == "cy")
    assert row["reason"] == "submitted, not graded yet"



def page_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_feedback_rewrites_pages_it_did_not_write_and_pages_whose_grades_changed(
        course_root, capsys):
    root = course_root
    submit_case(root, TINY, "bob", "wrong_hidden")
    assert main(["autograde", TINY, "--course", str(root), "--no-progress"]) == 0
    page = root / "grading" / "feedback" / "bob" / TINY / f"{TINY}.html"
    hidden = "assert double(21) == 42"

    # plain nbgrader, told to show hidden tests, as its own feedback does
    course.nbgrader("generate_feedback", TINY, "--HideHiddenTests.enabled=False", root=root)
    assert hidden in page_text(page)
    capsys.readouterr()
    assert main(["feedback", "--course", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1 page(s) written, 0 already up to date" in out, out
    assert "WARNING: 1 feedback page(s) written by plain nbgrader showed hidden tests" in out
    assert hidden not in page_text(page)
    assert "Your results: 3 / 5 points" in page_text(page)
    raw = page.read_text()
    assert "padding:" in raw and "overflow-wrap:anywhere" in raw
    assert str(root) not in raw and "site-packages" not in raw

    # nothing changed: the page stays
    assert main(["feedback", "--course", str(root)]) == 0
    assert "0 page(s) written, 1 already up to date" in capsys.readouterr().out

    # a manual grade and comment in the formgrader (nbgrader's API, as the formgrader does)
    nbg = nbgrader_app.load(root)
    with Gradebook(nbg.db_url, nbg.course_id) as gb:
        grade = gb.find_grade("test_double", TINY, TINY, "bob")
        grade.manual_score = 2.0
        gb.db.commit()
    assert main(["feedback", "--course", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1 page(s) written" in out and "1 whose grades or comments changed" in out, out
    assert "Your results: 5 / 5 points" in page_text(page)
    # plain nbgrader's page, even without hidden tests, is not taken for ours
    course.nbgrader("generate_feedback", TINY, "--force", root=root)
    assert main(["feedback", "--course", str(root)]) == 0
    out = capsys.readouterr().out
    assert "1 page(s) written" in out and "WARNING" not in out, out
