"""A wrong answer whose feedback page must not show the hidden tests."""

from pathlib import Path

from _build import (
    ASSIGNMENT,
    SEQUENTIAL,
    Expect,
    answered,
    feedback_pages,
    hidden_only_lines,
    leaked,
    write,
)

KIND = "Feedback"
ATTACK = ("A sequential `download_all`, whose failing hidden test a student could read in "
          "plain nbgrader's feedback.")
OUTCOME = ("The feedback page shows why the test failed and the visible test, never a line "
           "of the hidden tests, whether written by `python -m grader feedback` or by plain "
           "`nbgrader generate_feedback` (and the formgrader's button).")
EXPECT = Expect("graded", scores={"test_download_all": 0.0},
                messages={"test_download_all": "AssertionError"})


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, download_all=SEQUENTIAL))


def after(root: Path, student: str) -> None:
    secret = hidden_only_lines(root, ASSIGNMENT)
    assert secret, "the test has hidden lines to hide"
    for route, text in feedback_pages(root, student).items():
        shown = leaked(text, secret)
        assert not shown, f"{route} shows hidden test lines: {shown}"
        assert "took" in text and "loop time" in text, f"{route}: the failure message is shown"
        assert "expect_loop_time(run, 0.3" in text, f"{route}: the visible test is shown"
