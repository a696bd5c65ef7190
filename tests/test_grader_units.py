"""The grader's small pieces, without kernels: what feedback hides, what gets flagged,
how nbgrader's preprocessors are split between workers and the gradebook's owner, and
that every command explains itself."""

from __future__ import annotations

import copy
import dataclasses
import html
import json
import os
import re
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from grader_fixtures import HIDDEN_DOUBLE, tiny_notebook

from grader import course, integrity, records
from grader.__main__ import main
from grader.escape import printable
from grader.execute import OutOfTime, cpu_time_limit, outcome_message, split_preprocessors
from grader.feedback import HideHiddenTests, Secret, hidden_lines, scrub_traceback
from grader.preprocessors import _cpu, _likely_cause, rebuild

RED = "\x1b[31m"


def test_traceback_keeps_the_message_and_drops_the_hidden_test_code():
    secret = Secret({HIDDEN_DOUBLE})
    frames = [
        f"{RED}---------------------------------------------------------------------------",
        f"{RED}AssertionError\x1b[39m                            Traceback (most recent call last)",
        f"\x1b[36mCell\x1b[39m \x1b[32mIn[3]\x1b[39m, line 4\n      1 \"\"\"double doubles.\"\"\"\n"
        f"----> 4 {HIDDEN_DOUBLE}\n",
        "Cell In[2], line 2, in double(x)\n      1 def double(x):\n----> 2     return x + 2\n",
        f"{RED}AssertionError\x1b[39m: double(21) should be 42, got 23",
    ]
    out = scrub_traceback(frames, {3}, secret)
    text = "\n".join(out)
    assert "double(21) == 42" not in text
    assert "Cell In[3]: in the test code (not shown)" in text
    assert "return x + 2" in text  # the student's own code stays
    assert out[-1].endswith("double(21) should be 42, got 23")
    # a frame of another cell that quotes a hidden line loses that line only
    quoted = scrub_traceback([f"File x.py:1\n----> 1 {HIDDEN_DOUBLE}\n      2 other()"], {9},
                             secret)
    assert HIDDEN_DOUBLE not in quoted[0] and "other()" in quoted[0]


def test_hide_hidden_tests_edits_test_cells_only():
    nb = tiny_notebook()
    test = next(c for c in nb.cells if course.nbgrader_meta(c).get("grade_id") == "test_double")
    test.execution_count = 5
    test.outputs = [{"output_type": "stream", "name": "stderr",
                     "text": f"warning at\n    {HIDDEN_DOUBLE}\nkept\n"}]
    assert hidden_lines(test.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS") == {HIDDEN_DOUBLE}
    nb, _ = HideHiddenTests().preprocess(nb, {})
    assert HIDDEN_DOUBLE not in test.source and "double(2) == 4" in test.source
    assert test.outputs[0]["text"] == "warning at\nkept\n"
    solution = next(c for c in nb.cells if course.nbgrader_meta(c).get("solution"))
    assert "BEGIN SOLUTION" in solution.source  # not a test cell: untouched


def test_rebuild_grades_the_release_with_the_answers_only_and_says_what_changed():
    released = tiny_notebook()
    for cell in released.cells:  # as generate_assignment leaves it: hidden tests removed
        if course.nbgrader_meta(cell).get("grade"):
            cell.source = cell.source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
    same, lines = rebuild(copy.deepcopy(released), released)
    assert lines == [] and integrity.flags(same) == []  # untouched: nothing to say
    assert [c.source for c in same.cells] == [c.source for c in released.cells]

    edited = copy.deepcopy(released)
    by_gid = {course.nbgrader_meta(c).get("grade_id"): c for c in edited.cells}
    by_gid["test_double"].source = "pass"
    by_gid["test_double"].metadata["nbgrader"]["points"] = 99
    by_gid["double"].source = "get_ipython().input_transformers_cleanup.append(lambda l: [])"
    edited.cells.remove(by_gid["test_fetch"])
    edited.cells.insert(1, nbformat.v4.new_code_cell("import builtins"))
    edited.cells.append(copy.deepcopy(by_gid["fetch"]))
    # trailing blank lines are dropped: IPython would tokenise each of them, twice
    edited.cells[-1].source = "async def fetch(delay):\n    return 'last copy'" + "\n" * 1000
    edited.metadata["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash"}
    out, lines = rebuild(edited, released)
    assert [c.cell_type for c in out.cells] == [c.cell_type for c in released.cells]
    sources = {course.nbgrader_meta(c).get("grade_id"): c.source for c in out.cells}
    original = {course.nbgrader_meta(c).get("grade_id"): c for c in released.cells}
    assert sources["test_double"] == original["test_double"].source
    assert sources["test_fetch"] == original["test_fetch"].source
    assert course.nbgrader_meta(out.cells[4])["points"] == 2
    assert sources["fetch"].endswith("'last copy'") and sources["double"].startswith("get_ipy")
    assert out.metadata["kernelspec"]["name"] == "python3"
    assert "import builtins" not in [c.source for c in out.cells]
    text = "\n".join(lines)
    for expected in ["test cell 'test_double' was edited: the course's was run",
                     "test cell 'test_fetch' was deleted: the course's was put back and run",
                     "answer cell 'fetch' appears 2 times: the last copy was graded",
                     "1 code cell(s) added by the student (at cell 1) were not run: only answer "
                     "cells are graded; they touch the builtins",
                     "the notebook's kernel was changed to 'bash': graded with 'python3'"]:
        assert expected in text, f"missing {expected!r} in:\n{text}"
    flags = integrity.flags(edited)
    assert any(f.startswith("answer cell 'double' has code that may reach into IPython")
               for f in flags), flags

    other = copy.deepcopy(released)
    for cell in other.cells:
        if course.nbgrader_meta(cell).get("grade_id"):
            cell.metadata["nbgrader"]["grade_id"] += "_of_another_assignment"
    _, lines = rebuild(other, released)
    assert any("is it the notebook of another assignment?" in line for line in lines), lines


def test_workers_run_everything_up_to_the_gradebook_writes():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        Execute,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    nbgrader_default = [Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                        SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
    worker, parent = split_preprocessors(nbgrader_default)
    assert worker == [Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                      CheckCellMetadata]
    assert parent == [SaveAutoGrades, AssignLatePenalties]


def test_failure_messages_are_one_line():
    cell = {"outputs": [{"output_type": "error", "ename": "AssertionError",
                         "evalue": "took 0.6 s; expected 0.3 s", "traceback": []}]}
    assert outcome_message(cell) == "AssertionError: took 0.6 s; expected 0.3 s"
    cell = {"outputs": [{"output_type": "stream", "name": "stderr", "text": "oops\nmore"}]}
    assert outcome_message(cell) == "wrote to stderr: oops"


def test_submission_fingerprint_changes_with_content(tmp_path):
    (tmp_path / "a.ipynb").write_text("1")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("x")
    first = records.submission_hash(tmp_path, [".ipynb_checkpoints"])
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("y")
    assert records.submission_hash(tmp_path, [".ipynb_checkpoints"]) == first
    (tmp_path / "timestamp.txt").write_text("2026-01-01 00:00:00")
    second = records.submission_hash(tmp_path, [".ipynb_checkpoints"])
    assert second != first
    # a link is fingerprinted by where it points, without reading what it points at
    (tmp_path / "b.ipynb").symlink_to("/proc/self/mem")
    third = records.submission_hash(tmp_path, [".ipynb_checkpoints"])
    assert third != second
    (tmp_path / "b.ipynb").unlink()
    (tmp_path / "b.ipynb").symlink_to("/proc/self/environ")
    assert records.submission_hash(tmp_path, [".ipynb_checkpoints"]) not in (second, third)


@pytest.mark.parametrize("command", ["release", "collect", "autograde", "feedback", "export", "roster",
                                     "report"])
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "--course" in capsys.readouterr().out


READY = "print('stuck', flush=True)\n"  # started up and imported: from here on, stuck


@pytest.mark.parametrize("code, cause", [
    (READY + "while True: pass", "an endless loop?"),
    # as in a kernel: other threads take the interpreter lock from the looping one, which
    # then waits for it, asleep
    ("import threading\n"
     "threading.Thread(target=lambda: [None for _ in iter(int, 1)]).start()\n"
     + READY + "while True: pass", "an endless loop?"),
    ("import time\n" + READY + "time.sleep(60)", "a blocking call such as time.sleep?"),
    ("import asyncio\n" + READY + "asyncio.run(asyncio.Event().wait())",
     "a deadlock: awaiting something that never happens?"),
])
def test_the_likely_cause_of_a_hang_is_read_from_the_stuck_process(code, cause):
    # the spinner shares one CPU with a second one: the cause must not depend on the load
    cpu = min(os.sched_getaffinity(0))
    procs = [subprocess.Popen([sys.executable, "-c", c], stdout=subprocess.PIPE, text=True)
             for c in (code, "while True: pass")]
    try:
        for proc in procs:
            os.sched_setaffinity(proc.pid, {cpu})
        pid = procs[0].pid
        assert procs[0].stdout.readline() == "stuck\n"
        time.sleep(0.1)
        watch = (pid, _cpu(pid), time.monotonic())
        time.sleep(0.6)
        assert _likely_cause(*watch) == cause
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


# -- feedback: no output quotes a hidden test ------------------------------------------------


def _stream(text: str, name: str = "stdout") -> dict:
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_feedback_drops_every_output_that_quotes_a_hidden_test_and_keeps_the_rest():
    nb = tiny_notebook()
    cells = {course.nbgrader_meta(c).get("grade_id"): c for c in nb.cells}
    setup, answer, test = nb.cells[1], cells["double"], cells["test_double"]
    spaced = HIDDEN_DOUBLE.replace(" ", "   ").replace(",", " ,")  # re-spaced, same code
    test.execution_count = 7
    test.outputs = [
        _stream(f"from the answer:\n{HIDDEN_DOUBLE}\n"),
        nbformat.v4.new_output("error", ename="AssertionError",
                               evalue="double(21) should be 42, got 23", traceback=[
                                   "Cell In[7], line 4\n----> 4 " + HIDDEN_DOUBLE,
                                   "AssertionError: double(21) should be 42, got 23"]),
    ]
    hidden_zw = "\u200b".join(HIDDEN_DOUBLE)  # a zero-width space between the characters
    answer.outputs = [
        _stream(f"kept line\n  {spaced}\n{hidden_zw}\n"),  # the lines go, the rest stays
        _stream("\n".join(HIDDEN_DOUBLE) + "\n", "stderr"),  # one character per line
        nbformat.v4.new_output("display_data", data={
            "text/html": "<pre>" + "<b></b>".join(html.escape(HIDDEN_DOUBLE)) + "</pre>",
            "text/plain": "<IPython.core.display.HTML object>"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue=f"leak: {HIDDEN_DOUBLE}",
                               traceback=[f"ValueError: leak: {HIDDEN_DOUBLE}"]),
    ]
    setup.outputs = [_stream("Setup complete.\n"),
                     nbformat.v4.new_output("execute_result", data={"text/plain": HIDDEN_DOUBLE})]
    nb, _ = HideHiddenTests().preprocess(nb, {})

    everything = json.dumps([c.get("outputs", []) for c in nb.cells] + [c.source for c in nb.cells])
    squeezed = "".join(html.unescape(re.sub(r"<[^>]+>", "", everything)).split())
    for line in [HIDDEN_DOUBLE, "double(21)==42"]:
        assert "".join(line.split()) not in squeezed.replace("\\n", "").replace("\\u200b", "")
    # the failing check still says why, in the outputs and in the summary's reason
    assert test.outputs[-1]["evalue"] == "double(21) should be 42, got 23"
    assert outcome_message(test) == "AssertionError: double(21) should be 42, got 23"
    assert "Cell In[7]: in the test code (not shown)" in test.outputs[-1]["traceback"]
    assert "assert double(2) == 4" in test.source  # the visible test stays
    assert "Setup complete.\n" in setup.outputs[0]["text"]
    assert "not shown: it quotes the hidden tests" in json.dumps(answer.outputs)


def test_feedback_keeps_outputs_that_quote_only_visible_lines():
    nb = tiny_notebook()
    test = next(c for c in nb.cells if course.nbgrader_meta(c).get("grade_id") == "test_fetch")
    visible = 'assert result == "done 0.01", f"fetch(0.01) gave {result!r}"'
    hidden = test.source.split("### BEGIN HIDDEN TESTS")[1]
    test.source = test.source.replace(hidden, hidden.replace("### END", f"{visible}\n### END"))
    test.outputs = [_stream(f"{visible}\n)\n")]  # also in the hidden part, but visible anyway
    nb, _ = HideHiddenTests().preprocess(nb, {})
    assert test.outputs[0]["text"] == f"{visible}\n)\n"


# -- printing what submissions say -----------------------------------------------------------


def test_control_characters_from_submissions_are_shown_as_escapes():
    evil = "a\x1b[2Jb\x1b[31mc\u202ed\u2066e\x7f\x9b\x00\r"
    assert printable(evil) == "a\\x1b[2Jb\\x1b[31mc\\u202ed\\u2066e\\x7f\\x9b\\x00\\r"
    assert printable("two\nlines\tand tab") == "two\\nlines\\tand tab"
    assert printable("two\nlines\tand tab", multiline=True) == "two\nlines\tand tab"
    assert printable(printable(evil)) == printable(evil)  # twice changes nothing more
    assert printable("héllo ✓ 日本 — ok") == "héllo ✓ 日本 — ok"
    result = records.Result("01_coroutines", "ada", failure=f"x{evil}",
                            flags=[f"answer cell 'x{evil}' has code"],
                            warnings=["line\n\x1b[0mnext"],
                            tests=[records.TestOutcome("nb", "t", 1.0, 0.0, f"m{evil}")])
    text = json.dumps(dataclasses.asdict(records.clean(result)), ensure_ascii=False)
    assert "\x1b" not in text and "\u202e" not in text and "\\\\x1b[2J" in text
    assert result.warnings == ["line\n\\x1b[0mnext"]


# -- the work before the kernel: linear, and bounded -------------------------------------------


def _cpu_seconds(work) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


@pytest.mark.parametrize("unit", ["\n", " \t\n", "get_ipython \n", "time "])
def test_the_integrity_flags_are_linear_in_the_size_of_the_code(unit):
    """50,000 and 500,000 repeats of a unit, side by side in one run: CPU time, not wall
    time, and the least of three rounds, so that a busy machine cannot fake it. Linear work
    costs about 10 times as much for the larger text; quadratic work (``^\\s*`` with re.M
    over blank lines took 154 s for 200,000 of them) 100 times, and the pre-kernel time
    bound stops it long before."""
    small, large = unit * 50_000, unit * 500_000
    costs = {"small": [], "large": []}
    with cpu_time_limit(20):
        for _ in range(3):
            costs["small"].append(_cpu_seconds(lambda: integrity.suspicious(small)))
            costs["large"].append(_cpu_seconds(lambda: integrity.suspicious(large)))
    ratio = min(costs["large"]) / max(min(costs["small"]), 1e-4)
    assert ratio < 30, f"{ratio:.0f} times the cost for 10 times the text: {costs}"


def test_the_time_bound_stops_even_a_backtracking_regular_expression():
    import re as regex

    catastrophic = regex.compile(r"(a+)+$")
    start = time.process_time()
    with pytest.raises(OutOfTime), cpu_time_limit(0.5):
        catastrophic.match("a" * 64 + "b")  # 2**64 steps unless stopped
    assert time.process_time() - start < 10
    with cpu_time_limit(5):  # within the bound: nothing happens, and the timer is disarmed
        assert catastrophic.match("a" * 8)
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


def test_the_time_bound_holds_in_a_thread_that_is_not_the_main_one():
    """A Dask worker prepares a submission in a thread of its own, where no signal reaches:
    there the bound counts that thread's CPU time and stops Python code; it does not count
    time asleep, and it never strikes after its block."""
    import threading

    seen: dict[str, object] = {}

    def work() -> None:
        start = time.thread_time()
        try:
            with cpu_time_limit(0.3):
                while True:
                    pass
        except OutOfTime:
            seen["stopped after"] = time.thread_time() - start
        with cpu_time_limit(0.3):
            time.sleep(0.6)  # the clock runs, the thread's CPU time does not
        for _ in range(200):  # blocks that end in time leave nothing pending behind them
            with cpu_time_limit(0.3):
                sum(range(1000))
        time.sleep(0.1)  # where a late raise would land
        seen["ended"] = True

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    assert seen.get("ended") is True, seen
    assert 0.3 <= seen["stopped after"] < 2, seen


def test_a_method_named_like_a_builtin_is_not_taken_for_exec_or_eval():
    """``re.compile(...)`` or ``self.eval(...)`` is ordinary code; ``eval(...)`` is flagged."""
    assert integrity.suspicious('find = re.compile(r"<title>").search\nmodel.eval(x)\n') == []
    for code in ("eval(text)", "exec (source)", "code = compile(src, 'x', 'exec')"):
        assert any("exec/eval" in why for why in integrity.suspicious(code)), code


def test_the_default_number_of_workers_is_two_per_core_as_memory_allows(monkeypatch):
    from grader import pool

    cores = len(os.sched_getaffinity(0))
    assert pool.default_jobs() == 2 * cores  # this machine has the memory for it
    monkeypatch.setattr(pool, "PER_NOTEBOOK", 10**15)  # a notebook needs more than there is
    assert pool.default_jobs() == 1
