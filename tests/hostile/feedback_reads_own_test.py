"""An answer that prints the source of the hidden test that calls it."""

from pathlib import Path

from _build import (
    ASSIGNMENT,
    FULL,
    Expect,
    answered,
    feedback_pages,
    hidden_only_lines,
    leaked,
    solution,
    write,
)

KIND = "Feedback"
ATTACK = ("`download_all`, when the hidden test calls it, prints the calling cell's source "
          "(IPython's `In[-1]`, and the test cell's frame found with `sys._current_frames()` "
          "and `linecache`), hoping to read the hidden test on its feedback page.")
OUTCOME = ("Every output that quotes a hidden test line is left out of the feedback, on both "
           "routes (`python -m grader feedback` and plain `nbgrader generate_feedback`): the "
           "page shows no hidden line; the answer is flagged.")
EXPECT = Expect("graded", scores=FULL, flags=["reach into IPython"])

LEAK = '''import linecache
import sys
import threading

_leaked = []


def _leak():
    """Print the source of the cell that is running (the test calling this answer)."""
    if _leaked:
        return
    _leaked.append(True)
    print(get_ipython().user_ns["In"][-1])
    frame = sys._current_frames().get(threading.main_thread().ident)
    while frame is not None:
        source = "".join(linecache.getlines(frame.f_code.co_filename))
        if "run_virtual(download_all" in source:
            print(source)
            break
        frame = frame.f_back


'''


def submit(root: Path, student: str) -> None:
    right = solution(root, "download_all")
    head = "async def download_all(download, delays):\n"
    assert right.startswith(head)
    answer = LEAK + head + "    _leak()\n" + right[len(head):]
    write(root, student, answered(root, download_all=answer))


def after(root: Path, student: str) -> None:
    secret = hidden_only_lines(root, ASSIGNMENT)
    graded = root / "grading" / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    outputs = graded.read_text()  # JSON: the printed source is in it, lines escaped
    assert leaked(outputs.replace("\\n", "\n").replace('\\"', '"'), secret), \
        "the answer did not manage to print the hidden test (the check would prove nothing)"
    for route, text in feedback_pages(root, student).items():
        shown = leaked(text, secret)
        assert not shown, f"{route} shows hidden test lines: {shown}"
        # only the quoting lines go: the visible lines it printed are still there
        visible = "run = run_virtual(download_all, noting_download, [0.2, 0.3, 0.1])"
        # (the page highlights the cell's source, which then holds the line only in
        # pieces: whole, it is the printed copy)
        assert visible in text, f"{route}: the rest of the output is shown"
