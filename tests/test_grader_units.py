"""The grader's small pieces, without kernels: what feedback hides, what gets flagged,
how nbgrader's preprocessors are split between workers and the gradebook's owner, and
that every command explains itself."""

from __future__ import annotations

import copy

import pytest
from grader_fixtures import HIDDEN_DOUBLE, tiny_notebook

from grader import course, integrity, records
from grader.__main__ import main
from grader.execute import outcome_message, split_preprocessors
from grader.feedback import HideHiddenTests, hidden_lines, scrub_traceback

RED = "\x1b[31m"


def test_traceback_keeps_the_message_and_drops_the_hidden_test_code():
    secret = {HIDDEN_DOUBLE}
    frames = [
        f"{RED}---------------------------------------------------------------------------",
        f"{RED}AssertionError\x1b[39m                            Traceback (most recent call last)",
        f"\x1b[36mCell\x1b[39m \x1b[32mIn[3]\x1b[39m, line 4\n      1 \"\"\"double doubles.\"\"\"\n"
        f"----> 4 {HIDDEN_DOUBLE}\n",
        "Cell In[2], line 2, in double(x)\n      1 def double(x):\n----> 2     return x + 2\n",
        f"{RED}AssertionError\x1b[39m: double(21) should be 42, got 23",
    ]
    out = scrub_traceback(frames, 3, secret)
    text = "\n".join(out)
    assert "double(21) == 42" not in text
    assert "Cell In[3]: in the test code (not shown)" in text
    assert "return x + 2" in text  # the student's own code stays
    assert out[-1].endswith("double(21) should be 42, got 23")
    # a frame of another cell that quotes a hidden line loses that line only
    quoted = scrub_traceback([f"File x.py:1\n----> 1 {HIDDEN_DOUBLE}\n      2 other()"], 9, secret)
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


def test_flags_name_real_tampering_not_hidden_test_noise():
    released = tiny_notebook()
    for cell in released.cells:  # as generate_assignment leaves it: hidden tests removed
        if course.nbgrader_meta(cell).get("grade"):
            cell.source = cell.source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
    locked = integrity.released_cells(released)
    assert integrity.flags(released, locked) == []  # untouched: nothing to say

    edited = copy.deepcopy(released)
    for cell in edited.cells:
        gid = course.nbgrader_meta(cell).get("grade_id")
        if gid == "test_double":
            cell.source = "pass"
        if gid == "double":
            cell.source = "get_ipython().input_transformers_cleanup.append(lambda l: [])"
    edited.cells = [c for c in edited.cells
                    if course.nbgrader_meta(c).get("grade_id") != "test_fetch"]
    found = integrity.flags(edited, locked)
    assert "test cell 'test_double' was edited; the original was restored for grading" in found
    assert "test cell 'test_fetch' was deleted, so it did not run and scores 0" in found
    assert any(f.startswith("answer cell 'double' reaches into IPython") for f in found)


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
    assert records.submission_hash(tmp_path, [".ipynb_checkpoints"]) != first


@pytest.mark.parametrize("command", ["release", "collect", "autograde", "feedback", "export",
                                     "report"])
def test_every_command_explains_itself(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "--course" in capsys.readouterr().out
