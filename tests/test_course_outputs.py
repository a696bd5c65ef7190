"""What students see, read from outputs the release gate already produced.

``tests/test_release.py`` grades, for every assignment, the solved release, the untouched
release and every round of typical wrong answers with the real grader (``graded_course``
in conftest.py); the autograded notebooks keep every output. The tests here execute
nothing new: they read those outputs.

- No output shows a machine path, a temporary file name, an object address or an internal
  repr (``VirtualRun(``): every output of every cell of the solved notebook, and every
  output of the test cells in the other submissions (their failure messages).
- The visible tests catch the typical wrong answers: a test cell of the release is exactly
  the source's test cell without its hidden block, so a wrong answer is caught by the visible
  test iff the graded test cell's error was raised on a line outside ``### BEGIN HIDDEN
  TESTS`` ... ``### END HIDDEN TESTS``. IPython's traceback names that line ("Cell In[14],
  line 6"); :func:`failing_line` finds it. This costs nothing beyond the grading the suite
  does anyway (executing the release again for every wrong answer would cost as much as the
  grading itself). The figures (``01 7/7 ...``) are printed with ``-rA`` and in the failure
  message, and summed over the course at the end of the run.
"""

from __future__ import annotations

import os
import re

import nbformat
import pytest
from conftest import SOLVED, UNTOUCHED, right_rounds, wrong_answers, wrong_rounds, wrong_student

from grader import course

ASSIGNMENTS = [pytest.param(aid, marks=pytest.mark.xdist_group(aid), id=aid)
               for aid in course.assignments()]

#: The least share of typical wrong answers a notebook's visible tests must catch.
CATCH_TARGET = 0.9

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CHAIN = re.compile(r"^(The above exception was the direct cause of the following exception:"
                    r"|During handling of the above exception, another exception occurred:)\s*$",
                    re.MULTILINE)

# --------------------------------------------------------------------- what no output shows

_TOP_DIRS = sorted({"bin", "boot", "dev", "etc", "home", "lib", "lib64", "media", "mnt", "nix",
                    "opt", "private", "proc", "root", "run", "sbin", "snap", "srv", "sys", "tmp",
                    "Users", "usr", "var", "Volumes", "work"}
                   | {d for d in os.listdir("/") if re.fullmatch(r"[\w.-]+", d)})
#: What an output must not show, by name.
FORBIDDEN = {
    "a machine path": re.compile(r"(?<![\w.:/~-])/(?:" + "|".join(map(re.escape, _TOP_DIRS))
                                 + r")/|site-packages|\b[A-Za-z]:\\"),
    "a temporary file name": re.compile(r"\btmp[a-z0-9_]{8}\b|\bipykernel_\d+"),
    "an object address": re.compile(r"\b0x[0-9a-fA-F]{6,}\b"),
    "an internal repr": re.compile(r"\bVirtualRun\("),
}
#: Outputs that show one of these on purpose, as a lesson: (assignment, cell id) -> what
#: may show there. Keep it small.
ALLOWED = {
    # "Calling greet gave: <coroutine object greet at 0x...>": what calling a coroutine
    # function returns.
    ("01_coroutines", "cell-10"): re.compile(r"<coroutine object [\w.<>]+ at 0x[0-9a-f]+>"),
    # A forgotten await: a coroutine object in the list where a string was expected.
    ("01_coroutines", "cell-15"): re.compile(r"<coroutine object [\w.<>]+ at 0x[0-9a-f]+>"),
    # The broken breakfast of exercise 2: "Run the cell and look at what it returns".
    ("01_coroutines", "cell-30"): re.compile(r"<coroutine object [\w.<>]+ at 0x[0-9a-f]+>"),
}


def output_text(output) -> str:
    """The text of one output as a student sees it (no colour codes; no image data)."""
    kind = output.get("output_type")
    if kind == "stream":
        text = output.get("text", "")
    elif kind == "error":
        text = "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"])
    else:
        data = output.get("data", {})
        text = "\n".join(str(value) for mime, value in data.items()
                         if mime.startswith("text/") or mime.endswith("json"))
    if isinstance(text, list):
        text = "".join(text)
    return _ANSI.sub("", text)


def problems_in(text: str, allowed: re.Pattern | None = None) -> list[str]:
    """What ``text`` shows that no output may show: ["an object address: 0x7f3a...", ...]."""
    if allowed is not None:
        text = allowed.sub("", text)
    found = []
    for what, pattern in FORBIDDEN.items():
        for match in pattern.finditer(text):
            start = text.rfind("\n", 0, match.start()) + 1
            end = text.find("\n", match.end())
            line = text[start:end if end >= 0 else len(text)].strip()
            found.append(f"{what}: {line[:160]}")
    return found


def test_problems_in_finds_paths_addresses_and_reprs_only():
    assert problems_in("✓ download_all: in order, concurrent, 0.3 s") == []
    assert problems_in("GET http://127.0.0.1:8123/pages/3 -> 200; /pages/0 links to 4") == []
    assert problems_in("took 0.6 s of loop time; expected 0.3 s (seed 40213)") == []
    for text, what in [
        ("File /usr/lib/python3.11/asyncio/base_events.py:1930", "a machine path"),
        ("Executing <Task pending name='Task-2' coro=<resize() running at "
         "/tmp/ipykernel_77/2954.py:9>> took 0.201 seconds", "a machine path"),
        ("see .venv/lib/python3.11/site-packages/aiohttp/client.py", "a machine path"),
        ("wrote tmpk2x_9a0q.json", "a temporary file name"),
        ("<coroutine object greet at 0x7f3a2c1b9e40>", "an object address"),
        ("VirtualRun(call='f()', value=1, error=None, loop_time=0.3)", "an internal repr"),
    ]:
        found = problems_in(text)
        assert found and found[0].startswith(what), (text, found)
    allowed = ALLOWED[("01_coroutines", "cell-10")]
    assert problems_in("Calling greet gave: <coroutine object greet at 0x7f3a2c1b9e40>", allowed) == []
    assert problems_in("<Task pending at 0x7f3a2c1b9e40>", allowed)


def graded_submissions(aid: str) -> list[str]:
    students = [SOLVED, UNTOUCHED]
    students += [f"wrong_round_{k + 1}" for k in range(len(wrong_rounds(aid)))]
    students += [f"right_round_{k + 1}" for k in range(len(right_rounds(aid)))]
    return students


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_no_output_shows_a_path_an_address_or_an_internal_repr(aid, graded_course):
    """Every output of the solved notebook, and of the test cells of every other graded
    submission (what a student sees when a test fails)."""
    found = []
    for student in graded_submissions(aid):
        nb = graded_course.autograded(aid, student)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if student != SOLVED and not course.nbgrader_meta(cell).get("grade"):
                continue
            allowed = ALLOWED.get((aid, cell.get("id")))
            for output in cell.get("outputs", []):
                for problem in problems_in(output_text(output), allowed):
                    where = course.nbgrader_meta(cell).get("grade_id") or cell.get("id")
                    found.append(f"{student}, cell {index} ({where}): {problem}")
    found = list(dict.fromkeys(found))
    assert not found, (f"{aid}: outputs show what a student should never see "
                       f"({len(found)}):\n" + "\n".join(found[:40]))


# ------------------------------------------------------- what the visible tests catch


def failing_line(cell) -> int | None:
    """The line of a test cell (1-based, as graded: hidden tests included) on which its
    error was raised, read from IPython's traceback ("Cell In[14], line 6"): the outermost
    frame of the test cell in the last exception of the chain. None if the cell raised no
    error, or an error whose traceback names no line of the cell (a time-out, say)."""
    count = cell.get("execution_count")
    label = rf"Cell In\[{count}\]" if count is not None else r"Cell In\[\d+\]"
    for output in cell.get("outputs", []):
        if output.get("output_type") != "error":
            continue
        text = _ANSI.sub("", "\n".join(output.get("traceback") or []))
        last = _CHAIN.split(text)[-1]
        match = re.search(label + r", line (\d+)", last)
        if match:
            return int(match.group(1))
    return None


def hidden_lines(source: str) -> range:
    """The lines (1-based) of a test cell's hidden block, markers included (empty if none)."""
    begin = end = None
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == course.HIDDEN_MARKERS[0] and begin is None:
            begin = number
        elif line.strip() == course.HIDDEN_MARKERS[1] and begin is not None:
            end = number
    if begin is None:
        return range(0)
    return range(begin, (end or len(source.splitlines())) + 1)


def caught_visibly(cell) -> bool:
    """Did this graded test cell fail on a line that the release shows too?"""
    line = failing_line(cell)
    return line is not None and line not in hidden_lines(cell.source)


def _error_cell(source: str, traceback: list[str], count: int = 7):
    return nbformat.v4.new_code_cell(source, execution_count=count, outputs=[
        nbformat.v4.new_output("error", ename="AssertionError", evalue="x", traceback=traceback)])


def test_failing_line_reads_the_test_cells_own_line():
    red = "\x1b[0;31m"
    source = ('"""checks f"""\nrun = run_virtual(f)\nexpect_equal(run.value, 1, call="f()")\n'
              "### BEGIN HIDDEN TESTS\nexpect_loop_time(run, 0.3)\n### END HIDDEN TESTS\n"
              'passed("f")')
    assert hidden_lines(source) == range(4, 7)
    visible = _error_cell(source, [
        f"{red}AssertionError{red}   Traceback (most recent call last)",
        f"Cell {red}In[7], line 3{red}\n      2 run = run_virtual(f)\n----> 3 expect_equal(",
        "AssertionError: f() returned 2; expected 1."])
    assert failing_line(visible) == 3 and caught_visibly(visible)
    # the answer's own frame comes after the test cell's: the test cell's line counts
    deeper = _error_cell(source, [
        "Cell In[7], line 5\n----> 5 expect_loop_time(run, 0.3)",
        "Cell In[6], line 2, in f()\n----> 2 1/0", "ZeroDivisionError: division by zero"])
    assert failing_line(deeper) == 5 and not caught_visibly(deeper)
    # a chain: the last exception's line counts
    chained = _error_cell(source, [
        "Cell In[7], line 2\n----> 2 run = run_virtual(f)", "ValueError: x", "",
        "During handling of the above exception, another exception occurred:", "",
        "Cell In[7], line 5\n----> 5 expect_loop_time(run, 0.3)", "AssertionError: y"])
    assert failing_line(chained) == 5 and not caught_visibly(chained)
    # the line after the hidden block is shown by the release too
    last = _error_cell(source, ["Cell In[7], line 7\n----> 7 passed('f')", "TypeError: z"])
    assert caught_visibly(last)
    # no line of this cell: a time-out, or an earlier cell's error only
    assert failing_line(_error_cell(source, ["CellTimeoutError: did not finish"])) is None
    assert failing_line(_error_cell(source, ["Cell In[6], line 3"])) is None
    assert failing_line(nbformat.v4.new_code_cell(source, execution_count=7)) is None
    assert hidden_lines("assert f() == 1") == range(0)


def catch_figures(aid: str, graded_course) -> tuple[int, int, list[str]]:
    """(caught, total, what slipped through) over the typical wrong answers of ``aid``."""
    nb = nbformat.read(course.source_notebook(aid), as_version=4)
    tests = {cell: [gid for gid, _ in graded] for cell, graded in course.exercises(nb).items()}
    caught, missed = 0, []
    variants = [(cell, name) for cell, named in wrong_answers(aid).items() for name in named]
    for cell, name in variants:
        graded = graded_course.autograded(aid, wrong_student(aid, cell, name))
        cells = [c for c in graded.cells if course.nbgrader_meta(c).get("grade_id") in tests[cell]]
        if any(caught_visibly(c) for c in cells):
            caught += 1
        else:
            missed.append(f"{cell}: {name}")
    return caught, len(variants), missed


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_visible_tests_catch_the_typical_wrong_answers(aid, graded_course, record_property):
    """At least 90% of a notebook's typical wrong answers fail a *visible* test, so that a
    student who passes the visible tests rarely loses points later. (Until every notebook
    is reworked, this fails for the notebooks not reworked yet: the figures say where.)"""
    caught, total, missed = catch_figures(aid, graded_course)
    record_property("visible_catch", [aid, caught, total])
    figure = f"{aid[:2]} {caught}/{total}"
    print(f"visible tests catch {figure} typical wrong answers")
    assert total, f"{aid} has no typical wrong answers in tests/wrong_answers/"
    assert caught >= CATCH_TARGET * total, (
        f"{figure}: the visible tests of {aid} catch {caught} of {total} typical wrong answers "
        f"(at least {CATCH_TARGET:.0%} wanted); only hidden tests catch:\n" + "\n".join(missed))
