"""The instructor's grading round with real nbgrader and real kernels: a small class of
four students and two assignments (01_coroutines and a tiny purpose-built one) goes through
collect, parallel autograde, feedback, export and report; our grades equal plain
``nbgrader autograde``'s on the same submissions; an interrupted run resumes.

Every test here grades, so they share one xdist worker (group "grader") and one released
course, copied per test."""

from __future__ import annotations

import base64
import csv
import fcntl
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from conftest import wrong_answers
from grader_fixtures import (
    SLOW,
    TINY,
    TINY_CASES,
    TINY_FULL,
    add_tiny_assignment,
    copy_tree,
    submit_case,
)

from grader import course, gradebook, records
from grader.__main__ import main
from grader.autograde import autograde
from grader.release import release

pytestmark = pytest.mark.xdist_group("grader")
REAL = "01_coroutines"


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Path:
    """A course copy where 01_coroutines and the tiny assignment are released (and so
    known to the gradebook), nothing submitted yet. Built once per test run, under a lock,
    so that it is shared even if these tests end up on several xdist workers (whose
    temporary folders share a parent; without xdist that parent holds every run's folder,
    of every checkout, so the copy would outlive the code and configuration it was made
    from)."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "grader-released"
    shared.mkdir(exist_ok=True)
    root = shared / "course"
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "done").exists():
            if root.exists():
                shutil.rmtree(root)
            course.copy_course(root, with_release=False)
            release(root, [REAL])
            add_tiny_assignment(root)
            (shared / "done").touch()
    return root


@pytest.fixture
def fresh(released, tmp_path) -> Path:
    return copy_tree(released, tmp_path / "course")


def expected_scores(assignment: str, root: Path, answered: set[str] | None,
                    wrong: str | None = None) -> dict[str, float]:
    """test cell -> score, for a notebook whose exercises in ``answered`` (None: all) hold
    the solution, except ``wrong``, which holds a typical wrong answer."""
    nb = nbformat.read(course.source_notebook(assignment, root), as_version=4)
    out = {}
    for cell, tests in course.exercises(nb).items():
        right = (answered is None or cell in answered) and cell != wrong
        out.update({gid: (pts if right else 0.0) for gid, pts in tests})
    return out


def run(*argv: str) -> int:
    return main(list(argv))


# -- the whole round ------------------------------------------------------------------


def test_a_small_class_goes_through_collect_autograde_feedback_export_report(
        fresh, tmp_path, capsys):
    root = fresh
    released = nbformat.read(course.release_notebook(REAL, root), as_version=4)
    solutions = course.solution_answers(REAL, root)
    wrong_cell, variants = next(iter(wrong_answers(REAL).items()))
    wrong_name, wrong_source = next(iter(variants.items()))
    first = next(iter(solutions))
    real_subs = {
        "ada": (course.fill_answers(released, solutions), None, None),
        "bob": (course.fill_answers(released, dict(solutions, **{wrong_cell: wrong_source})),
                None, wrong_cell),
        "cy": (released, set(), None),
        "dan": (course.fill_answers(released, {first: solutions[first]}), {first}, None),
    }
    # 01_coroutines arrives as a folder in nbgrader's layout
    inbox = tmp_path / "inbox"
    for student, (nb, _, _) in real_subs.items():
        (inbox / student / REAL).mkdir(parents=True)
        nbformat.write(nb, inbox / student / REAL / f"{REAL}.ipynb")
    assert run("collect", REAL, str(inbox), "--course", str(root)) == 0
    assert "4 new" in capsys.readouterr().out

    # the tiny one as an LMS zip, where dan's file was renamed by the LMS
    tiny_cases = {"ada": "solved", "bob": "wrong_hidden", "cy": "untouched", "dan": "solved"}
    scratch = copy_tree(root, tmp_path / "scratch")
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for student, case in tiny_cases.items():
            path = submit_case(scratch, TINY, student, case)
            name = f"{student}_{TINY} (1).ipynb" if student == "dan" else f"{student}_{TINY}.ipynb"
            zf.write(path, name)
        zf.writestr("README.txt", "exported by the LMS")
    assert run("collect", TINY, str(archive), "--course", str(root)) == 1
    out = capsys.readouterr().out
    assert f"dan_{TINY} (1).ipynb" in out and "rename it" in out
    assert "README.txt" in out

    # autograde both assignments, two notebooks at a time
    assert run("autograde", "--course", str(root), "--jobs", "2", "--no-progress") == 0
    out = capsys.readouterr().out
    assert "7 graded, 0 failed" in out

    for student, (_, answered, wrong) in real_subs.items():
        want = expected_scores(REAL, root, answered, wrong)
        assert course.read_scores(REAL, root)[student] == want, student
    tiny_scores = course.read_scores(TINY, root)
    assert set(tiny_scores) == {"ada", "bob", "cy"}
    assert tiny_scores["ada"] == TINY_FULL
    assert tiny_scores["bob"] == {"test_double": 0.0, "test_fetch": 3.0}
    assert tiny_scores["cy"] == {"test_double": 0.0, "test_fetch": 0.0}
    rec = records.load(root, TINY, "bob")
    assert rec.status == records.GRADED and rec.score == 3.0 and rec.seconds > 0
    assert rec.tests[0].message == "AssertionError: double(21) should be 42, got 23"

    # feedback: one page per graded submission, hidden tests left out, failures explained
    assert run("feedback", "--course", str(root)) == 0
    capsys.readouterr()
    pages = sorted((root / "grading" / "feedback").glob("*/*/*.html"))
    assert len(pages) == 7
    page = page_text(root / "grading" / "feedback" / "bob" / TINY / f"{TINY}.html")
    assert "double(21) should be 42, got 23" in page  # why the check failed
    assert "assert double(21) == 42" not in page  # but not the hidden test itself
    assert "assert double(2) == 4" in page  # the visible test stays
    assert "BEGIN HIDDEN TESTS" not in page
    assert "Your results: 3 / 5 points" in page
    real_page = page_text(root / "grading" / "feedback" / "bob" / REAL / f"{REAL}.html")
    hidden = hidden_test_lines(root, REAL)
    assert hidden
    for line in hidden:
        assert line not in real_page, f"hidden test source in the feedback: {line}"
    bob_real = records.load(root, REAL, "bob")
    failing = [t for t in bob_real.tests if t.message]
    assert failing and all(t.message in real_page for t in failing)
    # nbgrader's own behaviour, on request
    assert run("feedback", TINY, "--student", "bob", "--with-hidden-tests", "--force",
               "--course", str(root)) == 0
    assert "assert double(21) == 42" in page_text(
        root / "grading" / "feedback" / "bob" / TINY / f"{TINY}.html")
    capsys.readouterr()

    # export: nbgrader's grades CSV, one row per student and assignment
    assert run("export", "--course", str(root), "--by-test", str(tmp_path / "tests.csv")) == 0
    rows = {(r["assignment"], r["student_id"]): r
            for r in csv.DictReader(open(root / "grading" / "grades.csv"))}
    max_real = sum(expected_scores(REAL, root, None).values())
    assert float(rows[(REAL, "ada")]["score"]) == max_real
    assert float(rows[(REAL, "ada")]["max_score"]) == max_real
    assert float(rows[(REAL, "cy")]["score"]) == 0.0
    assert float(rows[(TINY, "ada")]["score"]) == 5.0
    assert float(rows[(TINY, "bob")]["score"]) == 3.0
    assert float(rows[(TINY, "dan")]["score"]) == 0.0  # nothing collected for dan
    assert rows[(TINY, "dan")]["reason"].startswith(f"renamed file refused: dan_{TINY} (1).ipynb")
    by_test = list(csv.DictReader(open(tmp_path / "tests.csv")))
    assert {"assignment": TINY, "student_id": "bob", "test": "test_double", "score": "0.0"}.items() \
        <= next(r for r in by_test if r["student_id"] == "bob" and r["test"] == "test_double").items()

    # report: pass rates per exercise, histograms, failures and flags
    assert run("report", "--course", str(root)) == 0
    report = (root / "grading" / "report" / "index.html").read_text()
    assert (root / "grading" / "report" / f"scores_{TINY}.png").stat().st_size > 1000
    assert "data:image/png;base64," in report
    assert "double(21) should be 42, got 23" in report  # the most common reasons
    assert "33%" in report and "1 of 3" in report  # double: only ada passed
    assert "Refused at collect (1)" in report and "Not submitted" not in report


def hidden_test_lines(root: Path, assignment: str) -> set[str]:
    """Lines of the hidden tests that appear nowhere else in the source notebook (not even
    inside a longer line of prose)."""
    nb = nbformat.read(course.source_notebook(assignment, root), as_version=4)
    hidden, hidden_text = set(), []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            s = line.strip()
            if s == course.HIDDEN_MARKERS[0]:
                inside = True
            elif s == course.HIDDEN_MARKERS[1]:
                inside = False
            elif inside:
                hidden_text.append(s)
                if len(s) >= 12:
                    hidden.add(s)
    everything = "\n".join(cell.source for cell in nb.cells)
    inside_only = "\n".join(hidden_text)
    return {s for s in hidden if everything.count(s) == inside_only.count(s)}


def page_text(path: Path) -> str:
    """What a reader of an HTML page sees: tags (syntax highlighting) removed."""
    text = re.sub(r"<[^>]+>", "", path.read_text())
    return html.unescape(text)


def squeezed(text: str) -> str:
    return "".join(text.split())


def test_no_feedback_page_shows_a_hidden_test_even_when_the_answers_print_them(fresh):
    """Both routes to a feedback page (``python -m grader feedback``; plain ``nbgrader
    generate_feedback``, which the formgrader's button runs) leave out the hidden tests: a
    graded wrong answer's page, and the page of answers that print every hidden line of
    their notebook (to stdout, one character per line to stderr, as HTML, in an error and
    from inside the test that calls them)."""
    hidden = sorted(hidden_test_lines(fresh, REAL))
    assert len(hidden) > 10
    solutions = course.solution_answers(REAL, fresh)
    wrong_cell, variants = next(iter(wrong_answers(REAL).items()))
    head = "async def download_all(download, delays):\n"
    assert solutions["download_all"].startswith(head)
    leaky = dict(solutions)
    # encoded, so that the answers' own code (which the page shows) holds no hidden line:
    # the text reaches the kernel as a hidden test could pass it in
    encoded = base64.b64encode("\n".join(hidden).encode()).decode()
    leaky["brew_coffee"] = solutions["brew_coffee"] + (
        f"\n\nimport base64\n_SECRET = base64.b64decode({encoded!r}).decode()\n"
        "import sys\nfrom IPython.display import HTML, display\n"
        "print(_SECRET)\nprint(chr(10).join(_SECRET), file=sys.stderr)\n"
        "display(HTML('<pre>' + _SECRET.replace('<', '&lt;') + '</pre>'))\n")
    leaky["make_breakfast"] = solutions["make_breakfast"] + "\n\nraise RuntimeError(_SECRET)\n"
    leaky["download_all"] = (head + "    print(_SECRET)\n"
                             + solutions["download_all"][len(head):])
    released = nbformat.read(course.release_notebook(REAL, fresh), as_version=4)
    course.submit(fresh, REAL, "leaky", course.fill_answers(released, leaky))
    wrong = dict(solutions, **{wrong_cell: next(iter(variants.values()))})
    course.submit(fresh, REAL, "wrong", course.fill_answers(released, wrong))
    summary = autograde(fresh, [REAL], progress=False)
    assert len(summary.graded) == 2, summary.lines()

    graded = fresh / "grading" / "autograded" / "leaky" / REAL / f"{REAL}.ipynb"
    outputs = json.dumps([c.get("outputs", []) for c in nbformat.read(graded, 4).cells])
    assert all(squeezed(json.dumps(line)[1:-1]) in squeezed(outputs) for line in hidden), \
        "the answers printed the hidden tests (else this test proves nothing)"
    failing = [t.message for t in records.load(fresh, REAL, "wrong").tests if t.message]
    assert failing
    for student in ("wrong", "leaky"):
        page = fresh / "grading" / "feedback" / student / REAL / f"{REAL}.html"
        assert run("feedback", REAL, "--student", student, "--force", "--course",
                   str(fresh)) == 0
        ours = page_text(page)
        page.unlink()
        course.nbgrader("generate_feedback", REAL, "--student", student, "--force", root=fresh)
        plain = page_text(page)
        for route, text in (("python -m grader feedback", ours),
                            ("nbgrader generate_feedback", plain)):
            shown = [line for line in hidden if squeezed(line) in squeezed(text)]
            assert not shown, f"{route} shows {len(shown)} hidden lines to {student}: {shown}"
            assert "Your results:" in text, route
            if student == "wrong":
                assert all(m in text for m in failing), f"{route}: why the checks failed"


def test_a_submission_too_long_to_check_fails_alone_and_the_class_is_graded(fresh):
    """Everything a worker does to a submission before its kernel starts has a bound of CPU
    time: past it that submission fails with one line, leaves nothing in the gradebook,
    and the others are graded."""
    submit_case(fresh, TINY, "solved", "solved")
    released = nbformat.read(course.release_notebook(TINY, fresh), as_version=4)
    huge = course.fill_answers(released, dict(TINY_CASES["solved"],
                                              double=TINY_CASES["solved"]["double"]
                                              + "\n" * 9_000_000))
    path = fresh / "grading" / "submitted" / "huge" / TINY / f"{TINY}.ipynb"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(huge))  # 18 MB, under the size limit; seconds of CPU to check
    summary = autograde(fresh, [TINY], progress=False,
                        overrides={"SubmittedNotebooks": {"max_prepare_seconds": 1}})
    assert [r.student for r in summary.graded] == ["solved"], summary.lines()
    [failed] = summary.failed
    assert failed.student == "huge" and failed.failed_before_kernel
    assert "\n" not in failed.failure
    assert failed.failure == (
        f"grading/submitted/huge/{TINY}/{TINY}.ipynb cannot be graded: reading and checking it "
        "took more than 1 s of CPU time, the limit before its kernel starts "
        "(c.SubmittedNotebooks.max_prepare_seconds in nbgrader_config.py)")
    assert f"  huge/{TINY}: {failed.failure}" in summary.lines()
    assert records.load(fresh, TINY, "huge").failure == failed.failure
    assert set(course.read_scores(TINY, fresh)) == {"solved"}  # no rows for it
    assert not (fresh / "grading" / "autograded" / "huge" / TINY / f"{TINY}.ipynb").exists()
    assert run("report", "--course", str(fresh)) == 0
    report = (fresh / "grading" / "report" / "index.html").read_text()
    assert html.escape(failed.failure) in report


# -- same grades as nbgrader, and resuming ------------------------------------------------


@pytest.fixture
def tiny_class(fresh) -> Path:
    """Every kind of submission of the tiny assignment, with a 2-second cell limit."""
    for case in TINY_CASES:
        if case != "not_async":  # a wrong answer like wrong_hidden, to save time
            submit_case(fresh, TINY, case, case)
    submit_case(fresh, TINY, "invalid_json", "invalid_json")
    submit_case(fresh, TINY, "edited_test", "edited_test")
    submit_case(fresh, TINY, "slow", None, answers=SLOW)
    misnamed = submit_case(fresh, TINY, "misnamed", "solved")
    misnamed.rename(misnamed.with_name(f"{TINY} (1).ipynb"))
    with open(fresh / "nbgrader_config.py", "a") as fh:
        fh.write("\nc.Execute.timeout = 2\n")
    return fresh


def gradebook_rows(root: Path) -> dict:
    """Everything autograde writes: grades, comments, late penalties, students."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook("sqlite:///" + str(root / "grading" / "gradebook.db")) as gb:
        out["students"] = sorted(s.id for s in gb.students)
        for a in gb.assignments:
            for sub in gb.assignment_submissions(a.name):
                for nb in sub.notebooks:
                    out[(sub.student_id, nb.name, "late")] = nb.late_submission_penalty
                    for g in nb.grades:
                        out[(sub.student_id, g.name)] = (g.auto_score, g.manual_score,
                                                         g.needs_manual_grade)
                    for c in nb.comments:
                        out[(sub.student_id, c.name, "comment")] = c.auto_comment
    return out


def test_grades_equal_plain_nbgrader_and_a_second_run_resumes(tiny_class, tmp_path, capsys):
    theirs = copy_tree(tiny_class, tmp_path / "nbgrader")
    course.nbgrader("autograde", TINY, root=theirs, check=False)  # exits 1: some failed

    assert run("autograde", TINY, "--course", str(tiny_class), "--no-progress") == 1
    out = capsys.readouterr().out
    # a file that is not a notebook fails before nbgrader sees it, so it gets no rows; plain
    # nbgrader keeps a student row and empty grades for it
    ours, plain = gradebook_rows(tiny_class), gradebook_rows(theirs)
    plain["students"].remove("invalid_json")
    assert ours == {k: v for k, v in plain.items() if k[0] != "invalid_json"}

    # the grades themselves, to be sure the comparison compared something
    scores = course.read_scores(TINY, tiny_class)
    assert scores["solved"] == scores["edited_test"] == TINY_FULL
    assert scores["stderr"] == TINY_FULL  # a passing test keeps its points despite stderr
    assert scores["wrong_hidden"] == {"test_double": 0.0, "test_fetch": 3.0}
    assert scores["slow"] == {"test_double": 0.0, "test_fetch": 3.0}
    assert scores["untouched"] == {"test_double": 0.0, "test_fetch": 0.0}
    assert scores["crash"] == {"test_double": 0.0, "test_fetch": 3.0}  # restarted, went on

    # failures are listed by name, with the reason
    assert "7 graded, 2 failed" in out
    assert "the kernel died in cell 'double'" in out
    assert "invalid_json/90_tiny: grading/submitted/invalid_json/90_tiny/90_tiny.ipynb " \
           "cannot be graded: it is not valid JSON" in out
    assert "misnamed/90_tiny: no notebook with the expected name" in out
    assert "test cell 'test_double' was edited" in out
    assert "cell 'double' did not finish in 2 s (a blocking call such as time.sleep?)" in out

    # a second run grades nothing new (failed ones are tried again)
    assert run("autograde", TINY, "--course", str(tiny_class), "--no-progress") == 1
    out = capsys.readouterr().out
    assert "Skipped 7 submission(s) already graded" in out and "0 graded, 2 failed" in out

    # a changed submission is regraded; --force regrades the others
    submit_case(tiny_class, TINY, "untouched", "solved")
    assert run("autograde", TINY, "--student", "untouched", "--student", "solved",
               "--course", str(tiny_class), "--no-progress") == 0
    out = capsys.readouterr().out
    assert "1 graded, 0 failed" in out and "Skipped 1" in out
    assert course.read_scores(TINY, tiny_class)["untouched"] == TINY_FULL
    assert run("autograde", TINY, "--student", "solved", "--force",
               "--course", str(tiny_class), "--no-progress") == 0
    assert "1 graded, 0 failed" in capsys.readouterr().out


def test_a_notebook_that_runs_too_long_is_cut_off_and_the_rest_scores_zero(fresh):
    slow = {cell: "import time\ntime.sleep(3)\n" + source
            for cell, source in TINY_CASES["solved"].items()}
    submit_case(fresh, TINY, "slow_everywhere", None, answers=slow)
    summary = autograde(fresh, [TINY], progress=False,
                        overrides={"GuardedExecute": {"notebook_timeout": 4.5}})
    [result] = summary.graded
    assert {t.grade_id: t.score for t in result.tests} == {"test_double": 2.0, "test_fetch": 0}
    assert any("the notebook ran past its 4.5 s limit: cells from" in f for f in result.flags), \
        result.flags
    assert "not run" in next(t.message for t in result.tests if t.grade_id == "test_fetch")


def test_ctrl_c_keeps_what_was_graded_and_the_next_run_finishes(fresh):
    submit_case(fresh, TINY, "s1", "solved")
    # the others take a few seconds each, so that the interrupt (sent once s1 is graded)
    # comes while grading is under way, however busy the machine is
    slow = dict(TINY_CASES["solved"], double="import time\ntime.sleep(3)\n"
                + TINY_CASES["solved"]["double"])
    for student in ("s2", "s3", "s4"):
        submit_case(fresh, TINY, student, None, answers=slow)
    env = course.nbgrader_env()
    script = ("import signal, sys\n"
              "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
              "from grader.__main__ import main\n"
              f"sys.exit(main(['autograde', '--course', {str(fresh)!r}, '-j', '1',"
              " '--no-progress']))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=course.ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        graded = [r for r in records.load_all(fresh, TINY) if r.status == records.GRADED]
        if graded:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Interrupted" in out

    # what was saved is whole: a graded record has all its grades in the gradebook
    done = {r.student for r in records.load_all(fresh, TINY) if r.status == records.GRADED}
    assert 1 <= len(done) < 4, out
    scores = course.read_scores(TINY, fresh)
    for student in done:
        assert scores[student] == TINY_FULL
    # the kernels die with their workers (which may be killed on a busy machine): they may
    # take a moment to exit, but none is left running
    deadline = time.time() + 30
    while _kernels_of(fresh) and time.time() < deadline:
        time.sleep(0.2)
    assert not _kernels_of(fresh)

    assert run("autograde", "--course", str(fresh), "--no-progress") == 0
    assert all(course.read_scores(TINY, fresh)[s] == TINY_FULL for s in ("s1", "s2", "s3", "s4"))


def _kernels_of(root: Path) -> list[str]:
    """Kernel processes still running in this course (there must be none)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmd and cwd.startswith(str(root)):
            found.append(pid)
    return found


def test_unknown_assignment_and_empty_class_are_usage_errors(fresh, capsys):
    assert run("autograde", "99_nothing", "--course", str(fresh)) == 2
    assert "not in the gradebook: 99_nothing" in capsys.readouterr().err
    assert run("autograde", TINY, "--course", str(fresh)) == 2
    assert "no submissions of 90_tiny" in capsys.readouterr().err
    assert run("autograde", "--course", str(fresh), "--no-progress") == 0
    assert "Nothing to grade." in capsys.readouterr().out


def test_gradebook_writes_are_all_or_nothing(fresh):
    from nbgrader.api import Gradebook, MissingEntry

    url = "sqlite:///" + str(fresh / "grading" / "gradebook.db")
    with Gradebook(url) as gb:
        with pytest.raises(RuntimeError):
            with gradebook.one_transaction(gb):
                gb.add_student("ada")  # nbgrader commits here; the transaction does not
                raise RuntimeError("interrupted")
        with pytest.raises(MissingEntry):
            gb.find_student("ada")
        gradebook.write(gb, lambda: gb.add_student("bob"))
    with Gradebook(url) as gb:
        assert gb.find_student("bob").id == "bob"


def test_records_round_trip(tmp_path):
    r = records.Result(assignment=TINY, student="ada", status=records.GRADED, seconds=1.5,
                       tests=[records.TestOutcome(TINY, "test_double", 2.0, 0.0, "AssertionError")],
                       flags=["test cell 'x' was edited"])
    records.save(tmp_path, r)
    back = records.load(tmp_path, TINY, "ada")
    assert back == r and not back.tests[0].passed
    assert json.loads(records.path(tmp_path, TINY, "ada").read_text())["seconds"] == 1.5


def test_a_kernel_that_dies_while_starting_is_replaced(tmp_path):
    """Kernels choose free ports before binding them, so when many start at once one can
    die at start-up ("Address already in use"): grading starts another one."""
    from grader.preprocessors import GuardedExecute, SandboxedKernelManager

    class DiesOnce(SandboxedKernelManager):
        died = 0

        async def _async_pre_start_kernel(self, **kw):
            cmd, kw = await super()._async_pre_start_kernel(**kw)
            if not DiesOnce.died:
                DiesOnce.died += 1
                cmd = [sys.executable, "-c", "raise SystemExit(1)"]
            return cmd, kw

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    ex = GuardedExecute(kernel_manager_class=DiesOnce, timeout=30)
    ex.startup_timeout = 10
    nb, _ = ex.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert DiesOnce.died == 1
    assert nb.cells[0].outputs[0]["text"] == "42\n"
