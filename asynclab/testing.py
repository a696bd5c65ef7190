"""Checks that the course's test cells use to judge your coroutine functions.

The most important tool here is :func:`run_virtual`. It runs one of your coroutine functions
on a fresh event loop with a *virtual clock*: ``await asyncio.sleep(0.3)`` takes no real time
at all, yet the loop's clock says 0.3 s passed. The test cells can then tell exactly how long
your code would have taken, and whether your awaits ran one after another or side by side::

    from asynclab.testing import run_virtual, expect_equal, expect_loop_time, expect_clean

    run = run_virtual(fetch_all, [0.2, 0.3, 0.1])
    expect_equal(run.value, [0.2, 0.3, 0.1], call="fetch_all([0.2, 0.3, 0.1])")
    expect_loop_time(run, 0.3, call="fetch_all([0.2, 0.3, 0.1])",
                     hint="the three waits should overlap: asyncio.gather()?")
    expect_clean(run, call="fetch_all([0.2, 0.3, 0.1])")

Work handed to threads (``asyncio.to_thread``, ``loop.run_in_executor``) runs for real, and
takes the loop time the thread measured for itself, rounded down to whole twentieths of a
second (:data:`TIME_QUANTUM`): ``await asyncio.to_thread(time.sleep, 0.2)`` takes exactly
0.2 s of loop time, even on a busy machine (the time a thread waits for a CPU is not counted).

Besides the result and the loop time, a run records the usual asyncio mistakes: blocking
calls such as ``time.sleep()`` inside a coroutine, coroutines that were never awaited, task
exceptions nobody looked at, tasks still running when your function returned, and aiohttp
sessions that were never closed. ``run.problems`` describes them in plain sentences.

:class:`InFlight` counts how many coroutines are inside a block at the same time, so a test
can check that a semaphore really limits the concurrency.

The ``expect_*`` helpers raise ``AssertionError`` with a short message that names the call,
what was expected, what happened, and the likely mistake. When a check passes they print
nothing at all. They compare plain built-in values of exactly the expected types (a ``str``
subclass, or an object whose ``__eq__`` always says ``True``, is not the right answer, and
``True`` is not ``1``); :func:`plain` makes the same check before a test compares a value
itself (``assert sorted(plain(run.value, call=call)) == ...``).

A trace or profile function (``sys.settrace``, ``threading.settrace``...) sees every line of
the checks and can change their variables: :func:`run_virtual` runs without any, and one
installed by the answer (or left for new threads) is a problem that fails ``expect_clean``.

What a student sees
-------------------
The course's test cells all speak the same way:

- **A pass prints one short line**, from :func:`passed`, the last line of the cell (after
  the hidden tests, so the release shows it right after the visible checks):
  ``✓ download_all: in order, at the same time, 0.3 s``.
- **An untouched stub** gets :class:`NotAnswered` ("download_all is not answered yet:
  replace `raise NotImplementedError()` in the cell above ..."), never a diagnosis.
  :func:`run_virtual` does it by itself (also for a stub that ends a task the test's own
  harness judges); around a direct call of an answer use ``with answering():``; for an
  answer that sets names (a prediction), or one the test does not call through
  ``run_virtual`` (an async generator, whose stub has no ``yield`` yet), start the test with
  ``expect_answered("prediction", ...)``: it also knows a function that is still the stub.
- **A failure shows the message and the test cell's line**, not the checker's frames: the
  checks raise :class:`CheckFailed`, an ``AssertionError`` that IPython shows without
  asynclab's frames (and without paths). Don't chain it (``raise ... from exc``): the chain
  would show them again.
- **No output shows a machine path, a temporary name, an object address or an internal
  repr** (``VirtualRun(...)``): tests/test_course_outputs.py checks every output.
- **Hidden tests use fresh inputs**, from :func:`fresh_random`, with the seed in their
  messages, and pass in (as arguments) the helpers an answer must call, so that an answer
  may bind them early (``functools.partial``, a default argument) and a test sees every call
  without replacing a global.

A test cell, in the source notebook::

    \"\"\"download_all returns the files in order, downloads them at the same time.\"\"\"
    call = "download_all(download, [0.2, 0.3, 0.1])"
    run = run_virtual(download_all, download, [0.2, 0.3, 0.1])
    expect_clean(run, call=call)
    expect_equal(run.value, ["file 0.2", "file 0.3", "file 0.1"], call=call)
    expect_loop_time(run, 0.3, call=call, hint="One download after another? ...")
    # (hidden tests, between nbgrader's BEGIN and END HIDDEN TESTS markers)
    rng, seed = fresh_random()
    delays = [rng.choice([0.1, 0.2, 0.3]) for _ in range(rng.randint(2, 6))]
    ...
    # (end of the hidden tests)
    passed("download_all", "in order, at the same time, 0.3 s")
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import concurrent.futures
import dis
import functools
import gc
import inspect
import logging
import math
import os
import random
import re
import reprlib
import sys
import sysconfig
import threading
import time
import types
import warnings
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import looptime

__all__ = [
    "TIME_QUANTUM",
    "not_passed",
    "CheckFailed",
    "InFlight",
    "NotAnswered",
    "VirtualRun",
    "answering",
    "expect_answered",
    "expect_clean",
    "expect_equal",
    "expect_loop_time",
    "expect_max_in_flight",
    "fresh_random",
    "passed",
    "plain",
    "run_virtual",
]

# Bound at import, so that code under test that replaces time.perf_counter cannot blind
# the blocking check.
_perf_counter = time.perf_counter

#: A coroutine that holds the event loop this long (real seconds, in total) is "blocking".
BLOCKING_THRESHOLD = 0.05
#: Single steps shorter than this (real seconds) are never counted as blocking.
_STEP_THRESHOLD = 0.01
#: The course's quantum of time (seconds). Work handed to a thread or a process
#: (``asyncio.to_thread``, ``loop.run_in_executor``) takes the loop time it measured, rounded
#: *down* to a whole number of quanta: ``to_thread(time.sleep, 0.1)`` takes exactly 0.1 s.
#: Rounded down, because what a thread measures is its work plus costs that only ever add
#: time (waking up, taking the GIL back); the time it spent waiting for a CPU is taken off
#: (Linux's scheduler statistics). On a quiet machine those costs stay below a millisecond,
#: but on a machine at full load a thread can wait tens of milliseconds for the GIL while the
#: thread that holds it waits for a CPU (a 0.2 s job measured 0.23 s while the test suite ran
#: beside other work). 0.05 s absorbs that, and every delay the course hands to threads
#: (0.1-0.5 s) is a whole number of quanta.
TIME_QUANTUM = 0.05
#: A measured duration this close (seconds) below a whole number of quanta counts as reaching
#: it: it absorbs the rounding of floating-point seconds and of the clocks read in a thread,
#: and Linux's count of the time a thread waited for a CPU, which now and then runs a few
#: milliseconds over (on a busy machine, a 0.1 s sleep less that count came to 0.0961 s once
#: in about 2,500 sleeps; a 0.3 s job was once delivered at 0.25 s).
_QUANTUM_SLACK = 0.005
#: How many threads the run's default executor (``asyncio.to_thread``) has, on every machine.
#: Python's own default depends on the number of CPUs (``min(32, cpus + 4)``): fixed here, so a
#: figure such as "ten calls at once take 0.1 s" is the same on every machine.
_DEFAULT_THREADS = 32
#: While a job runs in a thread whose progress cannot be told (it is running or waiting for a
#: CPU), the loop looks again after this many real seconds before letting a timer fire.
_POLL = 0.005
#: While only executor jobs run, the loop also looks at their futures this often (seconds).
_CATCH_UP = 0.25
#: With no timer at all and nothing to run (waiting for outside I/O, not for executor jobs),
#: the virtual clock follows the real clock in steps of this size (seconds).
_IDLE_STEP = 0.01
#: How long (loop time) leaked tasks and async generators get to finish after cancellation.
_CLEANUP_TIMEOUT = 1.0
#: How long (real time) to wait for the worker after cancelling it on a real-time timeout.
_CANCEL_GRACE = 0.2

_NEVER_AWAITED = re.compile(r"coroutine '(?P<name>[^']+)' was never awaited")
_UNCLOSED_SESSION = re.compile(r"Unclosed client session")
_CAPTURED_LOGGERS = ("asyncio", "aiohttp.client", "aiohttp.internal", "aiohttp.connector")

class _BriefRepr(reprlib.Repr):
    """reprlib, with tasks, futures and coroutines named without addresses or file paths
    (a student's message shows what the value is, not where it lives)."""

    _ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")

    def repr_Task(self, x: Any, level: int) -> str:
        state = "cancelled" if x.cancelled() else "done" if x.done() else "pending"
        coro = x.get_coro()
        name = getattr(coro, "__qualname__", None) or type(coro).__name__
        return f"<Task {state} {_pretty(name)}()>"

    def repr_Future(self, x: Any, level: int) -> str:
        state = "cancelled" if x.cancelled() else "done" if x.done() else "pending"
        return f"<Future {state}>"

    def repr_coroutine(self, x: Any, level: int) -> str:
        return f"<coroutine object {_pretty(x.__qualname__)}>"

    def repr_instance(self, x: Any, level: int) -> str:
        text = self._ADDRESS.sub("", builtins.repr(x))
        if len(text) <= self.maxother:
            return text
        half = max(0, (self.maxother - 3) // 2)
        return text[:half] + "..." + text[len(text) - (self.maxother - 3 - half):]


_short = _BriefRepr()
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxdict = 8
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 3


def _brief(value: Any) -> str:
    """A short ``repr`` for messages (long lists and strings are cut with ``...``)."""
    try:
        return _short.repr(value)
    except Exception:  # a broken __repr__ must not hide the real message
        return f"<{type(value).__name__} object>"


def _seconds(value: float) -> str:
    """``0.3`` -> ``"0.3"``, ``60.0`` -> ``"60"``, ``0.30000001`` -> ``"0.3"``."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _pretty(qualname: str) -> str:
    """``outer.<locals>.fetch`` -> ``fetch``; ``Client.get`` stays as it is."""
    return qualname.rsplit("<locals>.", 1)[-1]


def _func_name(func: Any) -> str:
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return _pretty(name) if isinstance(name, str) else type(func).__name__


def _describe_call(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``fetch_all([0.2, 0.3], limit=2)`` for messages."""
    parts = [_brief(a) for a in args] + [f"{k}={_brief(v)}" for k, v in kwargs.items()]
    return f"{_func_name(func)}({', '.join(parts)})"


def _check_number(name: str, value: Any, *, positive: bool = True) -> float:
    # Exactly int or float: a subclass (a student's "predicted seconds", say) could lie in
    # its comparisons and arithmetic.
    if type(value) not in (int, float) or math.isnan(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if not positive and value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


# -------------------------------------------------------------------------- messages

#: Where library code lives (the standard library, installed packages, asynclab itself):
#: a ``NotImplementedError`` raised there is not an unanswered stub of the student's.
_LIBRARY_PLACES = tuple(
    sorted(
        {
            os.path.join(os.path.realpath(path), "")
            for key in ("stdlib", "platstdlib", "purelib", "platlib")
            if (path := sysconfig.get_paths().get(key))
        }
        | {os.path.join(os.path.dirname(os.path.realpath(__file__)), "")}
    )
) + ("<frozen ",)

_STUB = "raise NotImplementedError()"


class CheckFailed(AssertionError):
    """A check of the course failed; the message says what, and the likely mistake.

    It *is* an ``AssertionError`` (its ``__name__`` says so too, so a notebook shows
    ``AssertionError: ...`` as it always did), with one difference: in a notebook, its
    traceback shows the lines of the test cell only, not the checker's own frames (IPython
    asks an exception for ``_render_traceback_``).
    """

    def _render_traceback_(self) -> list[str]:
        return _render_traceback(self)


CheckFailed.__name__ = CheckFailed.__qualname__ = "AssertionError"


class NotAnswered(CheckFailed):
    """The answer cell still holds its stub (``raise NotImplementedError()``), or it has not
    been run: "brew_coffee is not answered yet: replace `raise NotImplementedError()` in
    the cell above". No diagnosis follows: there is nothing to diagnose yet."""

    def __init__(self, *names: str) -> None:
        names = tuple(name for name in names if name)
        if not names:
            what = "Not answered yet"
        elif len(names) == 1:
            what = f"{names[0]} is not answered yet"
        else:
            what = f"{', '.join(names[:-1])} and {names[-1]} are not answered yet"
        super().__init__(f"{what}: replace `{_STUB}` in the cell above with your answer, "
                         "and run that cell.")


NotAnswered.__name__ = NotAnswered.__qualname__ = "NotAnswered"


class _CheckTypeError(TypeError):
    """A ``TypeError`` about the student's answer (a function that is not ``async def``),
    shown like :class:`CheckFailed`: the test cell's lines, not the checker's."""

    def _render_traceback_(self) -> list[str]:
        return _render_traceback(self)


_CheckTypeError.__name__ = _CheckTypeError.__qualname__ = "TypeError"


def _hidden_frame(frame: Any) -> bool:
    """A frame of the checker: asynclab's own, or one marked ``__tracebackhide__``."""
    try:
        module = frame.f_globals.get("__name__")
        if type(module) is str and (module == "asynclab" or module.startswith("asynclab.")):
            return True
        return frame.f_locals.get("__tracebackhide__", False) is True
    except Exception:
        return False


def _without_checker_frames(tb: Any) -> Any:
    """The same traceback without the checker's frames (a new chain: the original is kept)."""
    kept = []
    while tb is not None:
        if not _hidden_frame(tb.tb_frame):
            kept.append(tb)
        tb = tb.tb_next
    clean = None
    for entry in reversed(kept):
        clean = types.TracebackType(clean, entry.tb_frame, entry.tb_lasti, entry.tb_lineno)
    return clean


def _render_traceback(exc: BaseException) -> list[str]:
    """What IPython shows for ``exc``: its usual traceback, without the checker's frames.
    Never fails (IPython would then print its own error on stderr, and show nothing)."""
    # Shown as the built-in class it stands for (AssertionError, TypeError), if it says so.
    shown = next((kind for kind in type(exc).__mro__
                  if kind.__module__ == "builtins" and kind.__name__ == type(exc).__name__),
                 type(exc))
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            seen: set[int] = set()
            link: BaseException | None = exc
            while link is not None and id(link) not in seen:  # the chained ones too
                seen.add(id(link))
                link.__traceback__ = _without_checker_frames(link.__traceback__)
                link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
            return shell.InteractiveTB.structured_traceback(shown, exc, exc.__traceback__)
    except Exception:
        pass
    return [f"{shown.__name__}: {exc}"]


def _stub_name(exc: BaseException | None) -> str | None:
    """If ``exc`` is the ``NotImplementedError`` of an answer's stub, the stub's name (or
    ``""`` for a stub at the top level of a cell); else None. A ``NotImplementedError``
    raised inside a library (an abstract method, say) is not a stub."""
    if type(exc) is not NotImplementedError:
        return None
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return None
    code = last.tb_frame.f_code
    if code.co_filename.startswith(_LIBRARY_PLACES):
        return None
    name = getattr(code, "co_qualname", code.co_name)
    return "" if name.startswith("<") else _pretty(name)


def _not_answered(exc: BaseException | None) -> NotAnswered | None:
    name = _stub_name(exc)
    return None if name is None else NotAnswered(name)


class answering:  # noqa: N801 (used like a function: `with answering():`)
    """Around a test's direct call of an answer (a plain function, a class, a method, or an
    ``await`` on the notebook's own loop): an untouched stub gives :class:`NotAnswered`
    ("not answered yet"), never a diagnosis. (:func:`run_virtual` does this by itself.)::

        with answering():
            links = parse_links(html)

    A ``NotImplementedError`` raised in library code passes through unchanged. Inside a
    ``try`` that turns exceptions into messages, let it through first::

        try:
            with answering():
                page = await fetch_page(session, url)
        except NotAnswered:
            raise
        except Exception as exc:
            raise AssertionError(f"{call} raised {exc!r}") from None
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        __tracebackhide__ = True
        stub = _not_answered(exc)
        if stub is not None:
            raise stub from None
        return False


#: Stubs as the course writes them: whatever instructions this Python compiles for them
#: (they differ between versions: 3.12 adds some to every coroutine) are a stub's.
_REFERENCE_STUBS = """
def plain():
    raise NotImplementedError()
async def coroutine():
    raise NotImplementedError()
def closure():
    cell = None
    def inner():
        cell
        raise NotImplementedError()
    return inner
"""


@functools.cache
def _stub_ops() -> frozenset[str]:
    namespace: dict[str, Any] = {}
    exec(compile(_REFERENCE_STUBS, "<stubs>", "exec"), namespace)
    functions = [namespace["plain"], namespace["coroutine"], namespace["closure"]()]
    ops = {i.opname for f in functions for i in dis.get_instructions(f.__code__)}
    return frozenset(ops - {"LOAD_DEREF", "LOAD_FAST"})  # the closure's use of its cell


def _is_stub_function(value: Any) -> bool:
    """A function (plain, async, generator) whose body is ``raise NotImplementedError()``."""
    code = getattr(value, "__code__", None) if type(value) is types.FunctionType else None
    if code is None or code.co_names != ("NotImplementedError",):
        return False
    ops = {instruction.opname for instruction in dis.get_instructions(code)}
    return "RAISE_VARARGS" in ops and ops <= _stub_ops()


def expect_answered(*names: str) -> None:
    """Check that the answer cell defined ``names`` (in the notebook's namespace) and that
    none of them is still the stub. An answer cell whose stub raises ``NotImplementedError``
    at the top level defines nothing, and neither does one that was never run; a function
    whose body is still ``raise NotImplementedError()`` is a stub too (an async generator
    stub has no ``yield`` yet, so it is not even an async generator). :class:`NotAnswered`
    otherwise::

        expect_answered("prediction", "predicted_seconds")
        expect_answered("throttled")
    """
    __tracebackhide__ = True
    frame = sys._getframe(1)
    missing = []
    for name in names:
        if name in frame.f_locals:
            value = frame.f_locals[name]
        elif name in frame.f_globals:
            value = frame.f_globals[name]
        else:
            missing.append(name)
            continue
        if _is_stub_function(value):
            missing.append(name)
    if missing:
        raise NotAnswered(*missing)


_Random = random.Random  # bound at import: an answer that replaces random.Random cannot
_urandom = os.urandom  # choose the inputs of the tests


def fresh_random(seed: int | None = None) -> tuple[random.Random, int]:
    """A random generator for a hidden test's inputs, and its seed: ``rng, seed =
    fresh_random()``. The seed comes from the operating system (an answer cannot fix it
    with ``random.seed()``); a test puts it in its messages ("... (inputs of seed 40213)"),
    and ``fresh_random(40213)`` gives the same inputs again. Fresh inputs on every run make
    a hard-coded result fail."""
    if seed is None:
        seed = int.from_bytes(_urandom(4), "big") % 1_000_000
    elif type(seed) is not int:
        raise TypeError(f"seed must be an int, got {seed!r}")
    return _Random(seed), seed


def passed(name: str, detail: str = "") -> None:
    """Say that a test passed, in one short line: ``✓ download_all: in order, concurrent,
    0.3 s``. The last line of every test cell, after its hidden tests, so that the release
    shows it right after the visible checks (and a grader after all of them). Prints to
    stdout; returns None, so that the cell ends without a value."""
    if type(name) is not str or type(detail) is not str:
        raise TypeError("passed() needs the name of what was tested and a short detail, as str")
    _note_pass(name)
    print(f"✓ {name}: {detail}" if detail else f"✓ {name}")


def _pass_registry() -> tuple[Callable[[str], None], Callable[..., list[str]]]:
    """What passed() said in this kernel. Held in a closure, not in a global of this module:
    it grows while tests run, and the grading guard takes a changed global for tampering
    (no test relies on it: only demos that need finished exercises ask)."""
    names: set[str] = set()

    def note(name: str) -> None:
        names.add(name)

    def not_passed(*wanted: str) -> list[str]:
        """Which of ``wanted`` have no passing test in this kernel yet (their test cell has
        not run, or failed): a demo that needs them all can say so instead of running."""
        return [name for name in wanted if name not in names]

    return note, not_passed


_note_pass, not_passed = _pass_registry()


# --------------------------------------------------------------------------- results


@dataclass
class VirtualRun:
    """What :func:`run_virtual` saw while your coroutine function ran.

    - ``call``: the call as text, e.g. ``"fetch_all([0.2, 0.3, 0.1])"``.
    - ``value``: what the coroutine returned (``None`` if it raised).
    - ``error``: the exception it raised (only filled in with ``run_virtual(..., catch=True)``).
    - ``loop_time``: seconds of *virtual* loop time the coroutine took, exact to 1e-6.
    - ``real_time``: seconds of real time it took (small, unless something blocked).
    - ``blocking``: ``(where, seconds)`` for coroutines that held the event loop for a while
      without awaiting (``time.sleep()``, heavy computation, blocking I/O).
    - ``never_awaited``: names of coroutines that were created but never awaited.
    - ``unretrieved``: task exceptions that nobody awaited or looked at.
    - ``leaked_tasks``: tasks still running when the coroutine returned (they were cancelled).
    - ``unclosed_sessions``: aiohttp client sessions that were never closed.
    - ``threads_running``: calls handed to ``asyncio.to_thread()`` (or ``run_in_executor``)
      still running, in loop time, when the coroutine returned.
    - ``tracing``: trace or profile functions installed during the run, or still set for
      new threads (``"sys.settrace"``, ``"threading.setprofile"``...): such a function can
      change the checker's variables, so it is not allowed in an exercise.
    - ``loop_errors``: anything else the event loop complained about.
    - ``warnings``: other warnings raised during the run (they are not shown on screen).
    - ``problems``: all of the above as plain sentences; empty for a clean run.
    """

    call: str
    value: Any = None
    error: BaseException | None = None
    loop_time: float = 0.0
    real_time: float = 0.0
    blocking: list[tuple[str, float]] = field(default_factory=list)
    never_awaited: list[str] = field(default_factory=list)
    unretrieved: list[str] = field(default_factory=list)
    leaked_tasks: list[str] = field(default_factory=list)
    unclosed_sessions: list[str] = field(default_factory=list)
    threads_running: int = 0
    loop_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tracing: list[str] = field(default_factory=list)
    peaks: dict[int, int] = field(default_factory=dict, repr=False)

    def most_at_once(self, executor: Any = None) -> int:
        """The most calls ``executor`` (``None``: the run's own, ``asyncio.to_thread``'s) had
        at the same time, in loop time: calls handed over in one step of a coroutine count as
        at once even if the first ended before the second started, so the figure does not
        depend on how busy the machine is."""
        return self.peaks.get(id(executor) if executor is not None else _DEFAULT_KEY, 0)

    @property
    def problems(self) -> list[str]:
        """One sentence per mistake found (each starts with a verb: "blocked ...")."""
        found: list[str] = []
        for how in self.tracing:
            what = "a profile function" if "profile" in how else "a trace function"
            if how.startswith("sys.monitoring"):
                what = "a monitoring tool"
            found.append(f"installed {what} ({how}): not allowed in an exercise.")
        for where, seconds in self.blocking:
            found.append(
                f"blocked the event loop for {seconds:.2f} s in {where} (real time passed "
                "while loop time stood still): a blocking call such as time.sleep() "
                "instead of await asyncio.sleep()?"
            )
        for name, count in _counted(self.never_awaited):
            what = f"coroutine {name}()" if count == 1 else f"{count} coroutines {name}()"
            found.append(
                f"created {what} but never awaited it: a missing `await`, or a coroutine "
                "that was never passed to asyncio.gather() or asyncio.create_task()?"
            )
        for text in self.unretrieved:
            found.append(
                f"let a task fail with {text} without anyone retrieving the exception: "
                "await every task you create (or gather them)."
            )
        for name, count in _counted(self.leaked_tasks):
            what = f"task {name}()" if count == 1 else f"{count} tasks {name}()"
            found.append(
                f"left {what} still running when it returned: await (or cancel) every task "
                "you create before returning."
            )
        if self.unclosed_sessions:
            n = len(self.unclosed_sessions)
            what = "an aiohttp.ClientSession" if n == 1 else f"{n} aiohttp.ClientSessions"
            found.append(
                f"left {what} open: use `async with aiohttp.ClientSession() as session:` "
                "so it is closed even when something fails."
            )
        if self.threads_running:
            n = self.threads_running
            what = "a call" if n == 1 else f"{n} calls"
            found.append(
                f"left {what} handed to asyncio.to_thread() still running in a thread when it "
                "returned: await what you hand to threads."
            )
        for text in self.loop_errors:
            found.append(f"made the event loop report an error: {text}")
        return found

    def __str__(self) -> str:
        lines = [
            f"{self.call}: {_brief(self.value) if self.error is None else repr(self.error)}",
            f"loop time {_seconds(self.loop_time)} s, real time {self.real_time:.3f} s",
        ]
        lines += [f"- {p}" for p in self.problems] or ["no problems found"]
        return "\n".join(lines)


def _counted(names: list[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return list(counts.items())


# ------------------------------------------------------------------ the virtual loop

_STDLIB_ASYNCIO = asyncio.__file__.rsplit("__init__", 1)[0]


def _innermost_coroutine(coro: Any) -> str | None:
    """The name of the deepest coroutine of yours in an await chain."""
    name = None
    seen = 0
    while coro is not None and seen < 50:
        code = getattr(coro, "cr_code", None)
        if code is None:
            break
        filename = code.co_filename
        if not filename.startswith(_STDLIB_ASYNCIO) and filename != __file__:
            name = _pretty(getattr(coro, "__qualname__", code.co_name))
        coro = getattr(coro, "cr_await", None)
        seen += 1
    return name


def _open_schedstat() -> int | None:
    """This thread's scheduler statistics (Linux), to tell waiting for a CPU apart from
    blocking: on a busy machine a step can take long only because other processes ran."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return None
    if _runqueue_seconds(fd) is None:
        os.close(fd)
        return None
    return fd


def _runqueue_seconds(fd: int | None) -> float | None:
    """Seconds this thread has spent ready to run but waiting for a CPU."""
    if fd is None:
        return None
    try:
        return int(os.pread(fd, 128, 0).split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _cpu_share(seconds: float, queued0: float | None, queued1: float | None) -> float:
    """``seconds`` of real time less what this thread spent waiting for a CPU meanwhile."""
    if queued0 is None or queued1 is None:
        return seconds
    return max(0.0, seconds - (queued1 - queued0))


class _TimedHandle(asyncio.Handle):
    """A callback handle that notes when one step holds the loop for too long: real time
    spent in the step, less what is set aside (garbage collection, handing jobs to an
    executor) and time spent waiting for a CPU."""

    __slots__ = ()

    def _run(self) -> None:
        loop = self._loop
        before = loop._al_set_aside
        queued = _runqueue_seconds(loop._al_sched_fd)
        t0 = _perf_counter()
        try:
            super()._run()
        finally:
            spent = _perf_counter() - t0 - (loop._al_set_aside - before)
            if spent >= _STEP_THRESHOLD and queued is not None:
                spent -= (_runqueue_seconds(loop._al_sched_fd) or queued) - queued
            if spent >= _STEP_THRESHOLD:
                loop._al_note_slow_step(self._callback, spent)
            task = getattr(self._callback, "__self__", None)
            if loop._al_stub is None and isinstance(task, asyncio.Task) and task.done():
                # Not task.exception(): that would count as retrieving it.
                error = None if task.cancelled() else getattr(task, "_exception", None)
                if _stub_name(error) is not None:
                    loop._al_stub = error


def _us(seconds: float) -> int:
    """Seconds as whole microseconds, the resolution of the virtual clock."""
    return round(seconds * 1_000_000)


_QUANTUM_US = _us(TIME_QUANTUM)


def _quanta_us(seconds: float) -> int:
    """A measured duration as loop time (microseconds): rounded down to whole quanta."""
    return max(0, math.floor((seconds + _QUANTUM_SLACK) / TIME_QUANTUM)) * _QUANTUM_US


def _read_proc(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 512)
    finally:
        os.close(fd)


def _thread_progress(tid: int, t0: float, queued0: float) -> float | None:
    """How long the thread ``tid`` has worked since ``t0`` (real time less the time it spent
    waiting for a CPU), as a lower bound of what it will measure at the end; None when it
    cannot be told now: it is running, or ready and maybe waiting for a CPU (that wait is
    only counted once it ends)."""
    task = f"/proc/self/task/{tid}/"
    try:
        before = _read_proc(task + "schedstat")
        state = _read_proc(task + "stat").rpartition(b")")[2].split()[:1]
        now = _perf_counter()
        state += _read_proc(task + "stat").rpartition(b")")[2].split()[:1]
        after = _read_proc(task + "schedstat")
        queued = int(before.split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
    # Asleep (or waiting for a lock, the GIL, I/O) before and after `now`, and not woken up
    # in between (the counters did not move): no wait for a CPU was under way at `now`.
    if before != after or len(state) != 2 or not set(state) <= {b"S", b"D"}:
        return None
    return _cpu_share(now - t0, queued0, queued)


class _Job:
    """One call handed to an executor during a run, and what the loop knows of it."""

    __slots__ = ("seq", "pool", "func", "args", "future", "cfuture", "start_us", "t0",
                 "queued0", "tid", "seconds", "due_us", "tracing")

    def __init__(self, seq: int, pool: _Pool, func: Any, args: tuple[Any, ...],
                 future: asyncio.Future[Any]) -> None:
        self.seq, self.pool, self.func, self.args, self.future = seq, pool, func, args, future
        self.cfuture: concurrent.futures.Future[Any] | None = None
        self.start_us = 0  # loop time it started (microseconds)
        self.t0: float | None = None  # real time it started, in its thread or from the loop
        self.queued0: float | None = None  # its thread's time spent waiting for a CPU then
        self.tid = 0  # its thread (native id)
        self.seconds: float | None = None  # how long it took, once it has ended
        self.due_us: int | None = None  # loop time its result is delivered
        self.tracing: list[str] = []  # trace functions its call left in its thread

    def end(self) -> None:
        """Its thread did not measure it (a process pool, a cancelled job): real time."""
        if self.seconds is None:
            self.seconds = 0.0 if self.t0 is None else max(0.0, _perf_counter() - self.t0)

    def progress(self) -> float | None:
        """A lower bound of the seconds it will have taken; None if that cannot be told now."""
        if self.seconds is not None:
            return self.seconds
        t0 = self.t0
        if t0 is None:
            return 0.0  # not started yet
        if self.queued0 is None:  # measured in real time only (from the loop, or not Linux)
            return _perf_counter() - t0
        return _thread_progress(self.tid, t0, self.queued0)


def _timed_call(job: _Job, func: Any, args: tuple[Any, ...]) -> Any:
    """Run ``func(*args)`` in an executor's thread and measure how long it took there: real
    time less the time this thread spent waiting for a CPU (on a busy machine other
    programs run meanwhile). Clocks are read so that any error only adds time."""
    fd = _open_schedstat()
    t0 = _perf_counter()
    queued0 = _runqueue_seconds(fd)
    job.tid = threading.get_native_id()
    job.queued0 = queued0
    job.t0 = t0  # last: once the loop sees t0, queued0 and tid are set
    try:
        return func(*args)
    finally:
        queued1 = _runqueue_seconds(fd)
        seconds = _perf_counter() - t0
        if fd is not None:
            os.close(fd)
        job.tracing = _stop_tracing()  # the next job in this thread starts without them
        job.seconds = _cpu_share(seconds, queued0, queued1)


_INTERPRETER_POOL = getattr(concurrent.futures, "InterpreterPoolExecutor", ())


class _Pool:
    """An executor used during a run, with as many slots as it has workers: a job waits
    for a free slot in loop time, so a pool of one worker runs its jobs one after another
    in loop time too, whatever the order real threads happen to pick them up."""

    __slots__ = ("executor", "capacity", "busy", "peak", "waiting", "in_thread")

    def __init__(self, executor: concurrent.futures.Executor) -> None:
        self.executor = executor
        workers = getattr(executor, "_max_workers", None)
        self.capacity = workers if type(workers) is int and workers > 0 else None
        self.busy = 0
        self.peak = 0  # the most jobs busy at once, in loop time
        self.waiting: collections.deque[_Job] = collections.deque()
        # Threads of this process measure their own time; a process (or an unknown kind of
        # executor) is measured from the loop, from submission to result.
        self.in_thread = isinstance(executor, concurrent.futures.ThreadPoolExecutor) and (
            not isinstance(executor, _INTERPRETER_POOL)
        )


class _VirtualLoop(looptime.LoopTimeEventLoop, asyncio.SelectorEventLoop):
    """A looptime event loop that also times every callback in real time, and that runs
    executor jobs (``asyncio.to_thread``, ``run_in_executor``) on the virtual clock.

    A job runs in a real thread (or process) and measures its own duration; its result is
    delivered at loop time ``start + duration`` (rounded down to whole quanta, see
    :data:`TIME_QUANTUM`). While jobs run, the clock moves to the next timer only once every
    running job has certainly lasted that long, so events keep their order in loop time.
    """

    _al_set_aside = 0.0
    _al_main_name = "the coroutine"
    #: The NotImplementedError of an unanswered stub that ended a task (even one that the
    #: test's own harness awaited and judged): the run then says "not answered yet".
    _al_stub: BaseException | None = None
    _al_sched_fd: int | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # looptime has replaced the selector's select(); ours decides when to use it.
        self._al_looptime_select = self._selector.select
        self._al_real_select = functools.partial(type(self._selector).select, self._selector)
        self._selector.select = self._al_select  # type: ignore[method-assign]
        self._al_pools: dict[int, _Pool] = {}
        self._al_running: set[_Job] = set()  # started and not ended, in real time
        self._al_ended: list[_Job] = []  # ended in real time, result not delivered yet
        self._al_jobs = 0
        self._al_tracing: set[str] = set()  # trace functions left in executor threads

    def close(self) -> None:
        fd, self._al_sched_fd = self._al_sched_fd, None
        if fd is not None:
            os.close(fd)
        super().close()

    def _al_setup_checks(self, main_name: str) -> None:
        self._al_sched_fd = _open_schedstat()  # of the thread that runs the loop
        self._al_set_aside = 0.0
        self._al_main_name = main_name
        self._al_slow: dict[str, float] = {}
        self._al_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._al_main_task: asyncio.Task[Any] | None = None

    def _call_soon(self, callback: Any, args: Any, context: Any) -> asyncio.Handle:
        # Same as asyncio's own _call_soon, with a timed handle.
        handle = _TimedHandle(callback, args, self, context)
        if handle._source_traceback:
            del handle._source_traceback[-1]
        self._ready.append(handle)
        task = getattr(callback, "__self__", None)
        if isinstance(task, asyncio.Task):
            self._al_tasks.add(task)
        return handle

    def _al_note_slow_step(self, callback: Any, seconds: float) -> None:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, asyncio.Task):
            where = _innermost_coroutine(owner.get_coro())
            if where is None:
                where = self._al_main_name if owner is self._al_main_task else _task_name(owner)
        else:
            where = _func_name(callback)
        if not where.endswith(")"):
            where += "()"
        self._al_slow[where] = self._al_slow.get(where, 0.0) + seconds

    # ------------------------------------------------------------- executor jobs

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        """asyncio's ``run_in_executor``, on the virtual clock (see the class docstring)."""
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            check = getattr(self, "_check_default_executor", None)
            if check is not None:  # raises once shutdown_default_executor() was called
                check()
            if executor is None:
                executor = self._default_executor = _Executor()
        pool = self._al_pools.get(id(executor))
        if pool is None or pool.executor is not executor:
            pool = self._al_pools[id(executor)] = _Pool(executor)
        self._al_jobs += 1
        job = _Job(self._al_jobs, pool, func, args, self.create_future())
        job.future.add_done_callback(functools.partial(self._al_forget, job))
        if pool.capacity is None or pool.busy < pool.capacity:
            self._al_start(job)  # an executor that refuses it raises here, as in asyncio
        else:
            pool.waiting.append(job)
        return job.future

    def _al_start(self, job: _Job) -> None:
        """Hand the job to its executor now (the loop time it starts)."""
        pool = job.pool
        job.start_us = _us(self.time())
        # Handing a job over is not blocking, even when the executor first starts a thread
        # (the loop waits until the new thread runs: tens of milliseconds on a busy machine)
        # or a process: that time is set aside, as garbage collection is.
        handed, set_aside = _perf_counter(), self._al_set_aside
        queued = _runqueue_seconds(self._al_sched_fd)
        try:
            if pool.in_thread:
                cfuture = pool.executor.submit(_timed_call, job, job.func, job.args)
            else:
                job.t0 = _perf_counter()
                cfuture = pool.executor.submit(job.func, *job.args)
        finally:  # once: a garbage collection during the hand-over is part of it, and
            # waiting for a CPU meanwhile is taken off the step by _TimedHandle already
            self._al_set_aside = set_aside + _cpu_share(
                _perf_counter() - handed, queued, _runqueue_seconds(self._al_sched_fd))
        pool.busy += 1
        pool.peak = max(pool.peak, pool.busy)
        job.cfuture = cfuture
        self._al_running.add(job)
        cfuture.add_done_callback(functools.partial(self._al_ended_threadsafe, job))

    def _al_ended_threadsafe(self, job: _Job, cfuture: concurrent.futures.Future[Any]) -> None:
        # In the executor's thread (or in whichever thread cancelled the job).
        job.end()
        try:
            self.call_soon_threadsafe(self._al_ended_job, job)
        except RuntimeError:  # the loop is closed: nobody waits for it any more
            pass

    def _al_ended_job(self, job: _Job) -> None:
        if job.due_us is not None:  # its end reached the loop already (see _al_catch_up)
            return
        self._al_running.discard(job)
        self._al_tracing.update(job.tracing)
        due = job.start_us + _quanta_us(job.seconds or 0.0)
        job.due_us = max(due, _us(self.time()))  # never in the past (the clock waited)
        self._al_ended.append(job)
        self.call_at(job.due_us / 1_000_000, self.call_soon, self._al_deliver)

    def _al_catch_up(self) -> None:
        """Take the end of every job whose future is done, in case word of it never came
        (the executor calls back from its own thread, where an answer's code also runs): a
        run waits for its jobs, never for a message that was lost."""
        for job in list(self._al_running):
            cfuture = job.cfuture
            if cfuture is not None and cfuture.done():
                job.end()
                self._al_ended_job(job)

    def _al_deliver(self) -> None:
        """Deliver the results due now, in the order the jobs were submitted. (Scheduled with
        call_soon from the timer: at one loop time, timers set by coroutines go first.)"""
        now = _us(self.time())
        due = sorted((j for j in self._al_ended if j.due_us <= now), key=lambda j: j.seq)
        if not due:
            return
        self._al_ended = [j for j in self._al_ended if j.due_us > now]
        for job in due:
            job.pool.busy -= 1
            future, cfuture = job.future, job.cfuture
            if future.done() or cfuture is None:
                continue
            if cfuture.cancelled():
                future.cancel()
                continue
            exc = cfuture.exception()
            if exc is None:
                future.set_result(cfuture.result())
            elif isinstance(exc, concurrent.futures.CancelledError):
                future.set_exception(asyncio.CancelledError(*exc.args))
            else:
                future.set_exception(exc)
        for job in due:
            self._al_start_waiting(job.pool)

    def _al_start_waiting(self, pool: _Pool) -> None:
        while pool.waiting and (pool.capacity is None or pool.busy < pool.capacity):
            job = pool.waiting.popleft()
            if job.future.done():
                continue
            try:
                self._al_start(job)
            except Exception as exc:  # e.g. the executor was shut down meanwhile
                job.future.set_exception(exc)

    def _al_forget(self, job: _Job, future: asyncio.Future[Any]) -> None:
        """The awaiting side gave up (cancelled): a job not started is dropped; a running one
        is asked to cancel (a thread cannot be stopped) and keeps its slot until it ends."""
        if not future.cancelled():
            return
        if job.cfuture is None:
            try:
                job.pool.waiting.remove(job)
            except ValueError:
                pass
        else:
            job.cfuture.cancel()

    def _al_threads_busy(self) -> int:
        """Jobs started and not delivered: in loop time, still running in a thread."""
        return len(self._al_running) + len(self._al_ended)

    def _al_select(self, timeout: float | None) -> list[tuple[Any, Any]]:
        if not self._al_running or (timeout is not None and timeout <= 0):
            return self._al_looptime_select(timeout)
        wait = _CATCH_UP  # nothing scheduled: wait for a job (or anything) in real time
        if timeout is not None:
            hold = self._al_hold(timeout)
            if hold is None:
                return self._al_looptime_select(timeout)  # it moves the clock to the timer
            wait = min(hold, _CATCH_UP)
        events = self._al_real_select(wait)
        self._al_catch_up()  # after any wake-up: other traffic must not hide a job's end
        return events

    def _al_hold(self, timeout: float) -> float | None:
        """None if the clock may move ``timeout`` on, to the next timer: every running job has
        certainly lasted that long in loop time (its result will come at that time or later,
        after the timer). Else the real seconds to wait before looking again."""
        target = _us(self.time() + timeout)
        wait = 0.0
        for job in list(self._al_running):
            lasted = job.progress()
            if lasted is None:
                wait = max(wait, _POLL)
                continue
            needed = target - job.start_us
            if _quanta_us(lasted) >= needed:
                continue
            quanta = -(-needed // _QUANTUM_US)
            wait = max(wait, quanta * TIME_QUANTUM - _QUANTUM_SLACK - lasted, _POLL / 5)
        return wait or None


#: The key of the run's own default executor in ``VirtualRun.peaks``.
_DEFAULT_KEY = 0


class _Executor(concurrent.futures.ThreadPoolExecutor):
    """The run's default executor (``asyncio.to_thread``), the same size on every machine."""

    def __init__(self) -> None:
        super().__init__(max_workers=_DEFAULT_THREADS, thread_name_prefix="asynclab-to_thread")


# ------------------------------------------------------------------------ run_virtual


class _Capture:
    """Collects warnings, log records and ignored exceptions from the worker thread only."""

    def __init__(self) -> None:
        self.thread_id: int | None = None
        self.warnings: list[tuple[type[Warning], str]] = []
        self.log: list[str] = []
        self.unraisable: list[str] = []
        self.active = True
        self._previous_hook = sys.unraisablehook
        self._previous_show: Any = None

    def mine(self) -> bool:
        return self.active and threading.get_ident() == self.thread_id

    # warnings.showwarning replacement
    def showwarning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if self.mine():
            self.warnings.append((category, str(message)))
        else:
            self._previous_show(message, category, filename, lineno, file, line)

    # logging.Filter protocol, on the asyncio and aiohttp loggers
    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread == self.thread_id and self.active:
            try:
                self.log.append(record.getMessage())
            except Exception:
                self.log.append(str(record.msg))
            return False
        return True

    def unraisablehook(self, unraisable: Any) -> None:
        if self.mine():
            self.unraisable.append(
                f"an exception was ignored in {_brief(unraisable.object)}: {unraisable.exc_value!r}"
            )
        else:
            self._previous_hook(unraisable)


class _State:
    """Shared between the caller and the worker thread."""

    def __init__(self) -> None:
        self.loop: _VirtualLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.internal_error: BaseException | None = None
        self.timed_out = False
        self.not_awaitable: TypeError | None = None
        self.loop_time = 0.0
        self.real_time = 0.0
        self.leaked: list[str] = []
        self.unretrieved: list[str] = []
        self.loop_errors: list[str] = []
        self.unclosed: list[str] = []
        self.blocking: list[tuple[str, float]] = []
        self.still_in_threads = 0
        self.abandoned = False
        self.tracing: list[str] = []
        self.peaks: dict[int, int] = {}


def _task_name(task: asyncio.Task[Any]) -> str:
    name = getattr(task.get_coro(), "__qualname__", None)
    return _pretty(name) if isinstance(name, str) else task.get_name()


def _exception_handler(state: _State) -> Callable[[Any, dict[str, Any]], None]:
    def handle(loop: Any, context: dict[str, Any]) -> None:
        try:
            message = str(context.get("message", ""))
            exc = context.get("exception")
            future = context.get("future") or context.get("task")
            if "client_session" in context or _UNCLOSED_SESSION.search(message):
                state.unclosed.append(_brief(context.get("client_session")))
            elif message.startswith("Unclosed connector"):
                state.loop_errors.append("an aiohttp connector was never closed.")
            elif "exception was never retrieved" in message:
                where = f" in {_task_name(future)}()" if isinstance(future, asyncio.Task) else ""
                state.unretrieved.append(f"{exc!r}{where}")
            elif "destroyed but it is pending" in message and isinstance(future, asyncio.Task):
                state.leaked.append(_task_name(future))
            else:
                state.loop_errors.append(f"{message} ({exc!r})" if exc else message)
        except Exception:  # never let the handler itself fail (asyncio would log it)
            state.loop_errors.append("an error the checker could not describe.")

    return handle


def _collect_garbage() -> None:
    """Collect the garbage of this run (the caller froze everything older, see gc.freeze)."""
    for _ in range(2):
        gc.collect()


def _stop_tracing() -> list[str]:
    """Remove this thread's trace and profile functions; say which were set. Such a function
    sees every line the checker runs and can rewrite its variables."""
    found = []
    if sys.gettrace() is not None:
        found.append("sys.settrace")
        sys.settrace(None)
    if sys.getprofile() is not None:
        found.append("sys.setprofile")
        sys.setprofile(None)
    frame = sys._getframe(1)
    while frame is not None:  # a frame's own tracer, set before tracing was switched off
        frame.f_trace = None
        frame = frame.f_back
    return found


def _tracing_for_threads() -> list[str]:
    """Trace and profile functions that every new thread gets (``threading.settrace``)."""
    found = []
    if threading.gettrace() is not None:
        found.append("threading.settrace")
    if threading.getprofile() is not None:
        found.append("threading.setprofile")
    return found


def _monitoring_tools() -> set[int]:
    """The sys.monitoring tools registered (Python 3.12+): ids in use."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return set()
    return {i for i in range(6) if monitoring.get_tool(i) is not None}


def _worker(
    state: _State,
    capture: _Capture,
    func: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    call: str,
    loop_timeout: float,
) -> None:
    """Body of the worker thread: run func on a fresh virtual-time loop, then clean up."""
    capture.thread_id = threading.get_ident()
    _stop_tracing()  # none was handed over (see run_virtual); none is left from before

    def on_gc(phase: str, info: dict[str, Any], _start: list[Any] = [0.0, None]) -> None:  # noqa: B006
        if threading.get_ident() != capture.thread_id:
            return
        if phase == "start":
            _start[0] = _perf_counter()
            _start[1] = _runqueue_seconds(loop._al_sched_fd) if loop is not None else None
        elif loop is not None:
            loop._al_set_aside += _cpu_share(_perf_counter() - _start[0], _start[1],
                                              _runqueue_seconds(loop._al_sched_fd))

    loop: _VirtualLoop | None = None
    executor = _Executor()
    gc.callbacks.append(on_gc)
    try:
        loop = _VirtualLoop(start=0.0, idle_step=_IDLE_STEP)
        loop._al_setup_checks(_func_name(func))
        loop.set_exception_handler(_exception_handler(state))
        loop.set_default_executor(executor)
        state.loop = loop

        async def main() -> Any:
            state.task = loop._al_main_task = asyncio.current_task()
            t0 = _perf_counter()
            try:
                awaitable = func(*args, **kwargs)
                if not inspect.isawaitable(awaitable):
                    state.not_awaitable = _CheckTypeError(_not_awaitable_message(call, awaitable))
                    del awaitable  # coroutines inside it are reported now, not later
                    return None
                deadline = asyncio.timeout(loop_timeout)
                try:
                    async with deadline:
                        value = await awaitable
                except TimeoutError:
                    if deadline.expired():
                        state.timed_out = True
                        return None
                    raise
                if deadline.expired():  # cancellation was swallowed
                    state.timed_out = True
                return value
            finally:
                state.loop_time = round(loop.time(), 6)
                state.real_time = _perf_counter() - t0
                state.still_in_threads = loop._al_threads_busy()

        try:
            state.value = loop.run_until_complete(main())
        except BaseException as exc:  # the student's own exception, re-raised by the caller
            state.error = _trim_traceback(exc)
        state.tracing += _stop_tracing()  # before any more of the checker runs here
        state.tracing += sorted(loop._al_tracing)  # ... and in the executors' threads
        state.peaks = {(_DEFAULT_KEY if pool.executor is loop._default_executor else key):
                       pool.peak for key, pool in loop._al_pools.items()}
        if state.abandoned:
            return
        _clean_up(state, loop)
        state.blocking = [
            (where, round(seconds, 3))
            for where, seconds in loop._al_slow.items()
            if seconds >= BLOCKING_THRESHOLD
        ]
    except BaseException as exc:  # a bug in the checker itself: reported by the caller
        state.internal_error = exc
    finally:
        try:
            idle = not state.abandoned and (loop is None or not loop._al_running)
            executor.shutdown(wait=idle, cancel_futures=True)
            if not state.abandoned:
                _collect_garbage()  # finalizers report unawaited coroutines, sessions, tasks
            if loop is not None and not loop.is_closed():
                loop.close()
        finally:
            gc.callbacks.remove(on_gc)


def _clean_up(state: _State, loop: _VirtualLoop) -> None:
    """Cancel leftover tasks, close async generators, note unretrieved task errors."""
    leftovers = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if leftovers and not state.timed_out:
        state.leaked += [_task_name(t) for t in leftovers]
    for task in leftovers:
        task.cancel()

    async def finish() -> None:
        if leftovers:
            await asyncio.wait(leftovers, timeout=_CLEANUP_TIMEOUT)
        try:
            await asyncio.wait_for(loop.shutdown_asyncgens(), _CLEANUP_TIMEOUT)
        except TimeoutError:
            pass

    loop.run_until_complete(finish())
    for task in leftovers:  # their errors during cancellation are not the student's problem
        if task.done() and not task.cancelled():
            task.exception()
    for task in list(loop._al_tasks):
        if task.done() and not task.cancelled() and getattr(task, "_log_traceback", False):
            exc = task.exception()  # marks it as retrieved, so it is reported only once
            state.unretrieved.append(f"{exc!r} in {_task_name(task)}()")


def _trim_traceback(exc: BaseException) -> BaseException:
    """Drop this module's frames from the front of a traceback: the student sees their code."""
    tb = exc.__traceback__
    while (
        tb is not None
        and tb.tb_next is not None
        and tb.tb_frame.f_globals.get("__name__")
        in (
            __name__,
            "asyncio.base_events",
            "asyncio.events",
        )
    ):
        tb = tb.tb_next
    return exc.with_traceback(tb)


def _not_awaitable_message(call: str, result: Any) -> str:
    if inspect.isasyncgen(result):
        return (
            f"{call} returned an async generator, not a coroutine: it contains `yield`, so "
            "iterate it with `async for` instead."
        )
    kind = type(result).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    what = "None" if result is None else f"{article} {kind}"
    return f"{call} returned {what}, not a coroutine: did you forget `async def`?"


def _close_coroutines(value: Any) -> list[str]:
    """Close coroutines returned by mistake (one level deep); return their names."""
    items: list[Any]
    if type(value) in (list, tuple, set, frozenset):  # exact types: no method of theirs runs
        items = list(value)
    elif type(value) is dict:
        items = list(value.values())
    else:
        items = [value]
    names = []
    for item in items:
        if inspect.iscoroutine(item) and inspect.getcoroutinestate(item) == "CORO_CREATED":
            names.append(_pretty(item.__qualname__))
            item.close()
    return names


def run_virtual(
    func: Callable[..., Awaitable[Any]],
    /,
    *args: Any,
    loop_timeout: float = 60.0,
    real_timeout: float = 10.0,
    catch: bool = False,
    **kwargs: Any,
) -> VirtualRun:
    """Run ``await func(*args, **kwargs)`` in virtual time and return a :class:`VirtualRun`.

    The coroutine runs on a brand-new event loop in a separate thread, so this works in a
    notebook cell even though Jupyter's own event loop is already running (no
    ``nest_asyncio`` needed), and it does not touch that loop. The new loop's clock is
    virtual (it starts at 0): whenever every task is waiting, the clock jumps straight to
    the next timer. ``asyncio.sleep(10)`` therefore costs no real time, and
    ``run.loop_time`` is exact: ``gather`` of sleeps of 0.2, 0.3 and 0.1 s takes 0.3 s,
    the same sleeps one after another take 0.6 s.

    Made for pure asyncio code: ``sleep``, tasks, ``gather``, ``wait_for``/``timeout``,
    locks, semaphores, events, queues.

    Work handed to ``asyncio.to_thread()`` or ``loop.run_in_executor()`` (the default
    executor, or any executor passed to it, thread or process pool) runs for real, and is
    timed in loop time exactly: a call that started at loop time ``t`` and worked ``d``
    seconds (real time less the time its thread waited for a CPU, rounded down to whole
    quanta of :data:`TIME_QUANTUM`, 0.05 s) delivers its result at loop time ``t + d``.
    While such calls run, the clock waits for them in real time, and moves to a timer only
    once they have certainly lasted that long, so timers and results come in the order they
    would in real life; at the same loop time, timers go first. Calls started together run
    together in real threads (``gather`` of 0.2 and 0.3 s takes 0.3 s); an executor with
    ``max_workers=1`` runs them one after another (0.5 s). The default executor has 32
    threads on every machine. Work in other processes is timed from the loop, from
    submission to result, so it also counts the time the process waited for a CPU.

    Real network I/O (aiohttp requests) does not mix with a virtual clock: HTTP exercises
    run on the notebook's own loop and are judged with the demo server's ``stats()``.
    Threads must hand work back through ``to_thread``/``run_in_executor``; other threads
    calling ``loop.call_soon_threadsafe`` are not waited for.

    - ``func`` may be an ``async def`` function or anything that returns an awaitable. If
      it returns something else, ``TypeError`` says so ("did you forget `async def`?").
    - If it raises, the same exception is raised here, unless ``catch=True``: then it is
      returned in ``run.error``.
    - ``loop_timeout``: if it has not finished after this many seconds of *loop* time,
      ``AssertionError`` (a deadlock, or waiting for something that never happens). A task
      that waits for nothing at all is caught at once, without waiting in real time.
    - ``real_timeout``: if it is still running after this many seconds of *real* time,
      ``AssertionError`` (an endless loop, or a blocking call). The thread cannot be
      stopped from outside; it is asked to cancel and left behind.

    Nothing is printed: warnings, asyncio's log messages and error reports from this run
    are collected into the result instead (see ``run.problems``). The keyword names
    ``loop_timeout``, ``real_timeout`` and ``catch`` are used by ``run_virtual`` itself and
    are not passed on to ``func``.
    """
    __tracebackhide__ = True
    if inspect.iscoroutine(func):
        name = func.__qualname__
        func.close()  # it can never be awaited now; close it quietly
        raise TypeError(
            f"run_virtual() needs the coroutine function and its arguments, not a coroutine: "
            f"write run_virtual({name}, arg, ...) instead of run_virtual({name}(arg, ...))."
        )
    if not callable(func):
        raise TypeError(f"run_virtual() needs a coroutine function, got {_brief(func)}")
    loop_timeout = _check_number("loop_timeout", loop_timeout)
    real_timeout = _check_number("real_timeout", real_timeout)
    call = _describe_call(func, args, kwargs)

    state = _State()
    capture = _Capture()
    thread = threading.Thread(
        target=_worker,
        args=(state, capture, func, args, kwargs, call, loop_timeout),
        name=f"asynclab-run_virtual-{_func_name(func)}",
        daemon=True,
    )
    loggers = [logging.getLogger(name) for name in _CAPTURED_LOGGERS]
    for logger in loggers:
        logger.addFilter(capture)
    sys.unraisablehook = capture.unraisablehook
    # Objects from before the run are set aside: the run's final garbage collection is then
    # quick, and older garbage is not blamed on this run.
    gc.freeze()
    monitoring = _monitoring_tools()
    # No trace or profile function for the threads of the run (set by threading.settrace,
    # one would see the checker's first lines): put back after it, and reported.
    trace, profile = threading.gettrace(), threading.getprofile()
    threading.settrace(None)  # type: ignore[arg-type]
    threading.setprofile(None)  # type: ignore[arg-type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            capture._previous_show = warnings.showwarning
            warnings.showwarning = capture.showwarning
            try:
                thread.start()
                thread.join(real_timeout)
            except BaseException:  # e.g. KeyboardInterrupt from Jupyter's stop button
                _abandon(state, capture, thread)
                raise
            if thread.is_alive():
                _abandon(state, capture, thread)
                raise CheckFailed(
                    f"{call} was still running after {_seconds(real_timeout)} s of real time: "
                    "an endless loop, or a blocking call (time.sleep(), a busy wait) that never "
                    "gives control back to the event loop? (Its thread keeps running; restart "
                    "the kernel if the notebook gets slow.)"
                ) from None
    finally:
        state.tracing += _tracing_for_threads()  # set by the answer during the run
        threading.settrace(trace)  # type: ignore[arg-type]
        threading.setprofile(profile)  # type: ignore[arg-type]
        gc.unfreeze()
        capture.active = False
        sys.unraisablehook = capture._previous_hook
        for logger in loggers:
            logger.removeFilter(capture)

    if state.internal_error is not None:
        raise state.internal_error
    stub = _not_answered(state.error) or _not_answered(getattr(state.loop, "_al_stub", None))
    if stub is not None:  # an untouched answer: no diagnosis
        raise stub from None
    if state.not_awaitable is not None:
        raise state.not_awaitable
    if state.timed_out:
        raise CheckFailed(
            f"{call} did not finish within {_seconds(loop_timeout)} s of loop time: a deadlock, "
            "or awaiting something that never happens (an Event nobody sets, a Queue nobody "
            "fills, a task waiting for itself)?"
        ) from None
    if state.error is not None and not catch:
        raise state.error

    never_awaited = [
        m.group("name")
        for category, text in capture.warnings
        if issubclass(category, RuntimeWarning) and (m := _NEVER_AWAITED.search(text))
    ]
    never_awaited = [_pretty(name) for name in never_awaited]
    never_awaited += _close_coroutines(state.value)
    other_warnings = [
        f"{category.__name__}: {text}"
        for category, text in capture.warnings
        if not _NEVER_AWAITED.search(text) and not _UNCLOSED_SESSION.search(text)
    ]
    unclosed = state.unclosed or [
        text for category, text in capture.warnings if _UNCLOSED_SESSION.search(text)
    ]
    loop_errors = state.loop_errors + capture.unraisable + capture.log
    tracing = list(dict.fromkeys(state.tracing + _tracing_for_threads()))
    tracing += [f"sys.monitoring, tool {tool}" for tool in _monitoring_tools() - monitoring]
    return VirtualRun(
        call=call,
        value=state.value,
        error=state.error,
        loop_time=state.loop_time,
        real_time=state.real_time,
        blocking=state.blocking,
        never_awaited=never_awaited,
        unretrieved=state.unretrieved,
        leaked_tasks=state.leaked,
        unclosed_sessions=unclosed,
        threads_running=state.still_in_threads,
        tracing=tracing,
        loop_errors=loop_errors,
        warnings=other_warnings,
        peaks=state.peaks,
    )


def _abandon(state: _State, capture: _Capture, thread: threading.Thread) -> None:
    """Ask a runaway worker to cancel, wait a moment, then leave it behind quietly."""
    state.abandoned = True
    loop, task = state.loop, state.task
    if loop is not None and task is not None:
        try:
            loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop has already closed
            pass
    thread.join(_CANCEL_GRACE)


# ----------------------------------------------------------------------------- InFlight


class InFlight:
    """Counts how many coroutines are inside a block at the same time.

    ::

        probe = InFlight()

        async def fetch(i):
            async with probe:          # +1 on the way in, -1 on the way out
                await asyncio.sleep(0.1)

        ...
        probe.max       # the most that were inside at once, e.g. 5 with Semaphore(5)
        probe.current   # how many are inside right now
        probe.entered   # how many times the block was entered in total

    ``probe.wrap(fetch)`` returns a function that counts every call of ``fetch`` the same
    way. A plain ``with probe:`` works too (for threads). Safe to use from several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current = 0
        self.max = 0
        self.entered = 0

    def _enter(self) -> None:
        with self._lock:
            self.current += 1
            self.entered += 1
            self.max = max(self.max, self.current)

    def _exit(self) -> None:
        with self._lock:
            self.current -= 1

    async def __aenter__(self) -> InFlight:
        self._enter()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._exit()

    def __enter__(self) -> InFlight:
        self._enter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._exit()

    def reset(self) -> None:
        """Start counting from zero again (``current`` keeps those still inside)."""
        with self._lock:
            self.max = self.current
            self.entered = 0

    def wrap(self, async_fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """Return an async function that calls ``async_fn`` and counts it while it runs."""
        if not callable(async_fn):
            raise TypeError(f"InFlight.wrap() needs an async function, got {_brief(async_fn)}")

        @functools.wraps(async_fn)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            async with self:
                return await async_fn(*args, **kwargs)

        return counted

    def __repr__(self) -> str:
        return f"<InFlight current={self.current} max={self.max} entered={self.entered}>"


# ------------------------------------------------------------------ plain built-in values

#: The built-in types answers are compared as: exactly these, never a subclass.
_PLAIN_TYPES = (list, tuple, dict, set, frozenset, str, int, float, bool, type(None), bytes)
_PLAIN = frozenset(_PLAIN_TYPES)
_PLAIN_WORDS = "a plain built-in value (list, tuple, dict, set, str, int, float, bool, None)"
#: Deeper than this, a value is not looked into (a list that contains itself, say).
_MAX_DEPTH = 100
_MISSING = object()


def _type_name(kind: type) -> str:
    try:
        name = type.__dict__["__name__"].__get__(kind)  # not a metaclass's own __name__
    except Exception:
        return "object"
    return name if len(name) <= 40 else name[:37] + "..."


def _a(noun: str) -> str:
    """``"a list"``, ``"an int"``, ``"None"``."""
    if noun in ("None", "NoneType"):
        return "None"
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _wanted(expected_type: type | None, actual_type: type) -> str:
    """What the value should have been, for messages: "a plain int", "a PosixPath"..."""
    if expected_type is None:  # anything plain: name the built-in type it pretends to be
        mro = type.__dict__["__mro__"].__get__(actual_type)  # not a metaclass's own
        expected_type = next((t for t in mro if t in _PLAIN), None)
        if expected_type is None:
            return _PLAIN_WORDS
    if expected_type in _PLAIN:
        return "None" if expected_type is type(None) else f"a plain {_type_name(expected_type)}"
    return _a(_type_name(expected_type))


@dataclass
class _Misfit:
    """A part of a value that is not of the type it must be (see :func:`_misfit`)."""

    where: str  # "" for the value itself, else "value at [0]['pages']", "key 'x' in [2]"...
    actual: type
    wanted: str
    too_deep: bool = False

    @property
    def hint(self) -> str:
        return "" if self.too_deep else _MISFIT_HINT

    def message(self, call: str, value: Any) -> str:
        what = _a(_type_name(self.actual))
        if self.too_deep:
            outer = _a(_type_name(type(value)))
            return (f"{call} returned {outer} nested more than {_MAX_DEPTH} levels deep "
                    "(does it contain itself?).")
        if not self.where:
            return f"{call} returned {what}, not {self.wanted}."
        outer = _a(_type_name(type(value)))
        return f"{call} returned {outer} whose {self.where} is {what}, not {self.wanted}."


_MISFIT_HINT = (
    "Build the result from plain built-in values (list, tuple, dict, set, str, int, float, "
    "bool, None): a subclass of them, or an object that only claims to be equal, is not "
    "accepted."
)


def _misfit(actual: Any, expected: Any = _MISSING, path: str = "", depth: int = 0,
            trusted: frozenset[type] = frozenset()) -> _Misfit | None:
    """The first part of ``actual`` that does not have exactly the type of the matching part
    of ``expected`` (or, where nothing matches, is not a plain built-in value).

    Only built-in operations on exact built-in types run here: no method of the answer's
    objects is called. A part of another plain type than expected (a tuple for a list,
    ``True`` for ``1``) is no misfit: the values then differ, which :func:`_same` says."""
    kind = type(actual)
    if expected is _MISSING:
        if kind not in _PLAIN and kind not in trusted:
            return _Misfit(_value_at(path), kind, _wanted(None, kind))
        expected_kind = kind
    else:
        expected_kind = type(expected)
        if kind is not expected_kind:
            if kind in _PLAIN:
                return _misfit(actual, _MISSING, path, depth, trusted)
            if kind in trusted:
                return None
            return _Misfit(_value_at(path), kind, _wanted(expected_kind, kind))
    if kind not in _PLAIN or kind in (str, int, float, bool, bytes, type(None)):
        return None
    if depth >= _MAX_DEPTH:
        return _Misfit(_value_at(path), kind, "", too_deep=True)
    if kind is list or kind is tuple:
        known = () if expected is _MISSING else expected
        for i, item in enumerate(actual):
            other = known[i] if i < len(known) else _MISSING
            found = _misfit(item, other, f"{path}[{i}]", depth + 1, trusted)
            if found:
                return found
        return None
    if kind is dict:
        keys_trusted = trusted
        if expected is not _MISSING:
            keys_trusted = trusted | {type(k) for k in expected if type(k) not in _PLAIN}
        for key in actual:
            found = _misfit(key, _MISSING, "", depth + 1, keys_trusted)
            if found:
                where = _member("key", key, path, found)
                return _Misfit(where, found.actual, found.wanted, found.too_deep)
        by_key = {} if expected is _MISSING else {_typed(k): v for k, v in expected.items()}
        for key, item in actual.items():
            other = by_key.get(_typed(key), _MISSING)
            found = _misfit(item, other, f"{path}[{_brief(key)}]", depth + 1, trusted)
            if found:
                return found
        return None
    # set or frozenset: their items are compared as a whole
    items_trusted = trusted
    if expected is not _MISSING:
        items_trusted = trusted | {type(x) for x in expected if type(x) not in _PLAIN}
    for item in actual:
        found = _misfit(item, _MISSING, "", depth + 1, items_trusted)
        if found:
            where = _member("item", item, path, found)
            return _Misfit(where, found.actual, found.wanted, found.too_deep)
    return None


def _value_at(path: str) -> str:
    if len(path) > 60:
        path = f"{path[:28]}...{path[-28:]}"
    return f"value at {path}" if path else ""


def _member(noun: str, member: Any, path: str, found: _Misfit) -> str:
    """ "key 'x' in [2]", or for a part inside that key: "key (1, 'x') in [2], at [1]"."""
    where = f"{noun} {_brief(member)}" + (f" in {path}" if path else "")
    inner = found.where.removeprefix("value at ")
    return f"{where}, at {inner}," if inner else where


def _typed(value: Any) -> Any:
    """A hashable form of a key (or set item) that tells ``1``, ``1.0`` and ``True`` apart."""
    kind = type(value)
    if kind is tuple:
        return (tuple, tuple(_typed(x) for x in value))
    if kind is frozenset:
        return (frozenset, frozenset(_typed(x) for x in value))
    if kind is float and value != value:
        return (float, "nan")
    return (kind, value)


def _same(actual: Any, expected: Any) -> bool:
    """Equality of values made of plain built-in types (checked by :func:`_misfit` first),
    with the types too: ``True`` is not ``1``, ``1`` is not ``1.0``, ``(1,)`` is not ``[1]``.
    A part of another type (one the test itself expects) is compared by the expected
    value's own ``==``."""
    kind = type(expected)
    if type(actual) is not kind:
        return False
    if kind is list or kind is tuple:
        return len(actual) == len(expected) and all(map(_same, actual, expected))
    if kind is dict:
        if len(actual) != len(expected):
            return False
        by_key = {_typed(k): v for k, v in actual.items()}
        return all(
            (item := by_key.get(_typed(k), _MISSING)) is not _MISSING and _same(item, v)
            for k, v in expected.items()
        )
    if kind is set or kind is frozenset:
        return {_typed(x) for x in actual} == {_typed(x) for x in expected}
    if kind is float:
        return actual == expected or (actual != actual and expected != expected)
    if kind in _PLAIN:
        return actual == expected
    try:
        return (expected == actual) is True
    except Exception:
        return False


def _kind_note(actual: Any, expected: Any, path: str = "", depth: int = 0) -> str:
    """Where equal-looking numbers differ in type (``True`` for ``1``, ``2`` for ``2.0``),
    say so: Python's ``==`` would call them equal, the course does not."""
    kind, expected_kind = type(actual), type(expected)
    if depth > _MAX_DEPTH:
        return ""
    if kind is not expected_kind:
        if kind not in _PLAIN or expected_kind not in _PLAIN:
            return ""
        sequences = (list, tuple)
        if kind in sequences and expected_kind in sequences:
            looks_equal = list(actual) == list(expected)
        else:
            looks_equal = actual == expected  # plain values only: no method of the answer's
        if not looks_equal:
            return ""
        at = f"At {path}, " if path else ""
        note = f"{at}{_brief(actual)} is {_a(_type_name(kind))}, not {_a(_type_name(expected_kind))}"
        if {kind, expected_kind} <= {bool, int, float}:
            note += f": here {_brief(actual)} is not {_brief(expected)}"
        return note + "."
    if kind is list or kind is tuple:
        pairs = ((f"{path}[{i}]", a, e) for i, (a, e) in enumerate(zip(actual, expected, strict=False)))
    elif kind is dict:
        by_key = {_typed(k): v for k, v in actual.items()}
        pairs = (
            (f"{path}[{_brief(k)}]", by_key[_typed(k)], v)
            for k, v in expected.items()
            if _typed(k) in by_key
        )
    else:
        return ""
    for where, a, e in pairs:
        note = _kind_note(a, e, where, depth + 1)
        if note:
            return note
    return ""


def _returned_awaitable(value: Any) -> bool:
    """A coroutine or a task/future, or a plain list, tuple or dict holding one."""
    kind = type(value)
    items = value if kind in (list, tuple) else value.values() if kind is dict else (value,)
    return any(inspect.iscoroutine(x) or isinstance(x, asyncio.Future) for x in items)


def plain(value: Any, *, call: str) -> Any:
    """Return ``value`` unchanged if it is made of plain built-in values only, at every level
    (``list``, ``tuple``, ``dict`` and its keys, ``set``, ``frozenset``, ``str``, ``int``,
    ``float``, ``bool``, ``None``, ``bytes``: exactly these types, not subclasses).

    A test can compare the result with ``==``, ``in`` or ``sorted()`` afterwards without
    calling any method of the answer's objects: a subclass of ``str`` or an object whose
    ``__eq__`` always says ``True`` cannot pass for the right value::

        pages = plain(run.value, call=call)
        assert sorted(pages) == expected, f"{call} returned ..."

    ``AssertionError`` otherwise, naming the part that is not plain: "summarize(...)
    returned a dict whose value at ['pages'] is a MyInt, not a plain int. ..."
    """
    __tracebackhide__ = True
    if _returned_awaitable(value):
        _close_coroutines(value)
        raise CheckFailed(
            f"{call} returned {_brief(value)}: that is a coroutine or task, not its result. "
            "Did you forget `await`?"
        )
    found = _misfit(value)
    if found is not None:
        raise _fail(found.message(call, value), found.hint)
    return value


# ----------------------------------------------------------------------- expectations


def _fail(message: str, hint: str = "") -> CheckFailed:
    hint = hint.strip()
    return CheckFailed(f"{message} {hint}".strip() if hint else message)


def expect_equal(actual: Any, expected: Any, *, call: str, hint: str = "") -> None:
    """Check that ``call`` returned ``expected``: the same value, of exactly the same types.

    Every part of ``actual`` must have exactly the type of the matching part of ``expected``
    (``list``, ``tuple``, ``dict`` and its keys, ``set``, ``str``, ``int``, ``float``,
    ``bool``...): a subclass of ``str``, or an object whose ``__eq__`` always says ``True``,
    is not the right value, and no method of the answer's objects is called to compare.
    ``True`` is not ``1`` here, nor ``1`` ``1.0``. (A part of another type, such as a
    ``Path``, must have exactly the expected part's type and is compared by its ``==``.)

    ``AssertionError``: "fetch_all([0.2, 0.3, 0.1]) returned [...]; expected [...]. <hint>",
    or "summarize(...) returned a dict whose value at ['pages'] is a MyInt, not a plain
    int. ..." Without a hint, a likely mistake is suggested when one is obvious (a coroutine
    instead of a value, the right values in the wrong order, a missing ``return``).
    """
    __tracebackhide__ = True
    misfit = None if _returned_awaitable(actual) else _misfit(actual, expected)
    if misfit is None and _same(actual, expected):
        return
    if misfit is not None:
        raise _fail(misfit.message(call, actual), misfit.hint)
    message = f"{call} returned {_brief(actual)}; expected {_brief(expected)}."
    if not _returned_awaitable(actual):
        note = _kind_note(actual, expected)
        message = f"{message} {note}" if note else message
    if not hint:
        hint = _equal_hint(actual, expected)
    _close_coroutines(actual)  # no "never awaited" warning on top of the message
    raise _fail(message, hint)


def _equal_hint(actual: Any, expected: Any) -> str:
    if _returned_awaitable(actual):
        return "That is a coroutine or task, not its result: did you forget `await`?"
    if actual is None and expected is not None:
        return "Did you forget to `return` the result?"
    if type(actual) in (list, tuple) and type(actual) is type(expected):
        try:
            if len(actual) == len(expected) and _same(sorted(actual), sorted(expected)):
                return (
                    "The right results in the wrong order: asyncio.gather() returns results "
                    "in the order of its arguments, as_completed() in the order they finish."
                )
        except TypeError:
            pass
    return ""


def expect_loop_time(
    run: VirtualRun | float,
    expected: float,
    *,
    call: str | None = None,
    hint: str = "",
    tol: float = 1e-3,
) -> None:
    """Check that a :func:`run_virtual` run took ``expected`` seconds of loop time (± tol).

    ``AssertionError``: "fetch_all([0.2, 0.3, 0.1]) took 0.6 s of loop time; expected 0.3 s.
    <hint>". If the run also blocked the event loop, that is mentioned, since a blocking
    ``time.sleep()`` takes real time but no loop time.
    """
    __tracebackhide__ = True
    expected = _check_number("expected", expected, positive=False)
    tol = _check_number("tol", tol, positive=False)
    if type(run) is VirtualRun:
        actual, call = run.loop_time, call or run.call
    elif isinstance(run, int | float) and not isinstance(run, bool):
        actual, call = run, call or "the call"
    else:
        raise TypeError(f"expect_loop_time() needs a VirtualRun or a number, got {_brief(run)}")
    if type(actual) not in (int, float):  # a subclass could lie in its arithmetic
        raise CheckFailed(f"{call}: its loop time is {_a(_type_name(type(actual)))}, not a "
                             "plain number.")
    actual = float(actual)
    if abs(actual - expected) <= tol:
        return
    message = f"{call} took {_seconds(actual)} s of loop time; expected {_seconds(expected)} s."
    if type(run) is VirtualRun and run.blocking:
        hint = f"{hint} It also {run.problems[0]}".strip()
    elif not hint:
        if actual > expected:
            hint = "Do the waits run one after another instead of at the same time?"
        else:
            hint = "Does it return before all the work is done (something not awaited)?"
    raise _fail(message, hint)


def expect_clean(run: VirtualRun, *, call: str | None = None) -> None:
    """Check that a :func:`run_virtual` run had no problems (see ``VirtualRun.problems``).

    ``AssertionError`` lists them: "fetch_all([0.2]) created coroutine fetch() but never
    awaited it: ..."
    """
    __tracebackhide__ = True
    if type(run) is not VirtualRun:  # exactly: a subclass could hide the problems
        raise TypeError(
            f"expect_clean() needs the VirtualRun from run_virtual(), got {_brief(run)}"
        )
    problems = run.problems
    if not problems:
        return
    call = call or run.call
    if len(problems) == 1:
        raise CheckFailed(f"{call} {problems[0]}")
    listed = " ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
    raise CheckFailed(f"{call} has {len(problems)} problems: {listed}")


def expect_max_in_flight(observed: Any, expected: int, *, call: str, hint: str = "") -> None:
    """Check how many requests (or coroutines) were in flight at once, at most.

    ``observed`` may be a number, an :class:`InFlight` probe, or the dict from the demo
    server's ``stats()``. ``AssertionError``: "fetch_all(urls, limit=5) had at most 20 requests
    in flight at once; expected 5. <hint>"
    """
    __tracebackhide__ = True
    if type(observed) is InFlight:
        value = observed.max
    elif type(observed) is dict and "max_in_flight" in observed:
        value = observed["max_in_flight"]
    else:
        value = observed
    if isinstance(value, int) and not isinstance(value, bool) and type(value) is not int:
        # an int subclass could say it equals anything
        raise CheckFailed(f"{call}: the number in flight is {_a(_type_name(type(value)))}, "
                             "not a plain int.")
    if type(value) is not int:
        raise TypeError(
            "expect_max_in_flight() needs a number, an InFlight probe or a stats() dict, "
            f"got {_brief(observed)}"
        )
    if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
        raise TypeError(f"expected must be a whole number >= 0, got {expected!r}")
    if value == expected:
        return
    if not hint:
        if value > expected:
            hint = "The limit is not applied: is every request inside `async with semaphore:`?"
        elif value <= 1:
            hint = "They ran one at a time: are they awaited one by one instead of gathered?"
        else:
            hint = "Fewer ran at once than allowed: is the limit set too low?"
    noun = "request" if value == 1 else "requests"
    raise _fail(f"{call} had at most {value} {noun} in flight at once; expected {expected}.", hint)
