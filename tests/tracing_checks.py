"""Trace and profile functions that an answer installs: reported, and removed before the
checks run. Run by tests/test_testing.py in an interpreter of their own (see there)."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest
from test_testing import threads_at_once, threads_in_turn

from asynclab.testing import expect_clean, run_virtual


def test_a_trace_function_installed_by_the_answer_is_reported_and_removed():
    seen = set()

    def tracer(frame, event, arg):
        seen.add(frame.f_code.co_name)
        return tracer

    async def sneaky():
        sys.settrace(tracer)
        sys.setprofile(tracer)
        await asyncio.sleep(0.1)
        return "done"

    run = run_virtual(sneaky)
    assert sys.gettrace() is None and sys.getprofile() is None  # this thread untouched
    assert run.value == "done"
    assert run.loop_time == 0.1
    assert run.tracing == ["sys.settrace", "sys.setprofile"]
    assert run.problems == [
        "installed a trace function (sys.settrace): not allowed in an exercise.",
        "installed a profile function (sys.setprofile): not allowed in an exercise.",
    ]
    assert "sneaky" in seen  # it did trace the run ...
    assert not seen & {"_clean_up", "_collect_garbage"}  # ... not the checks after it
    with pytest.raises(AssertionError, match=r"^sneaky\(\) has 2 problems: \(1\) installed a "
                       r"trace function \(sys.settrace\)"):
        expect_clean(run)


def test_trace_functions_in_executor_threads_are_reported_and_removed():
    seen = []

    def tracer(frame, event, arg):
        seen.append(frame.f_code.co_name)
        return tracer

    async def in_a_thread():
        await asyncio.to_thread(sys.settrace, tracer)  # left in that thread
        seen.clear()
        return await threads_in_turn([0.1] * 3)  # in the same thread, one after another

    # a traced thread runs many times slower: on a loaded machine, more than 10 s
    run = run_virtual(in_a_thread, real_timeout=120)
    assert (run.value, run.loop_time) == ([0.1] * 3, 0.3)
    assert run.tracing == ["sys.settrace"]
    assert seen == []  # removed when the call that set it ended

    async def for_new_threads():
        await asyncio.to_thread(threading.settrace, tracer)
        return await threads_at_once([0.1] * 3)

    try:
        run = run_virtual(for_new_threads, real_timeout=120)
        assert threading.gettrace() is None  # put back as it was before the run
    finally:
        threading.settrace(None)
    assert (run.value, run.loop_time) == ([0.1] * 3, 0.1)
    # the new threads of the run got it, and each call left it in its thread
    assert run.tracing == ["sys.settrace", "threading.settrace"]
