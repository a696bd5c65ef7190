"""Pictures of what the event loop did: which coroutine ran when, and for how long.

Record *spans* (a label, a start and an end) while your code runs, then draw them as a
chart with one horizontal bar per span. Bars that overlap ran concurrently; bars that
follow each other ran one after another::

    import asyncio
    from asynclab.timeline import Timeline, compare

    tl = Timeline()

    @tl.track                          # every call becomes a bar: "fetch_data_async(0.2)"
    async def fetch_data_async(delay):
        await asyncio.sleep(delay)
        return delay

    await asyncio.gather(fetch_data_async(0.2), fetch_data_async(0.3))
    tl                                 # as the last line of a cell: shows the chart

    async with tl.span("download"):    # or time any block, async ...
        await asyncio.sleep(0.1)
    with tl.span("parse"):             # ... or not
        parse_everything()

    compare(tl_sequential, tl_gather, titles=["sequential", "gather"])

``tl.spans`` lists the recorded spans, ``tl.total`` is the time from the first start to the
last end, ``tl.plot()`` returns the chart as a matplotlib Figure, ``print(tl)`` draws it as
text, and :func:`compare` stacks several timelines on one time axis.

How each span ended is recorded for you and drawn differently: a span that ended by an
exception is red with a red ✕ at its end ("raised an exception"; ``span.error`` names it,
e.g. ``"ValueError"``), a span that was cancelled (``asyncio.CancelledError``, as a
TaskGroup does to the siblings of a failed task) is grey and cross-hatched ("cancelled").

Time spent *waiting* (for a semaphore's permit, a lock, a queue's next item, an event) is
drawn as a light, dotted segment just before the bar of the same task. Either wrap the
primitive once, and keep writing ``async with semaphore:`` as usual::

    semaphore = tl.watch(asyncio.Semaphore(5))   # its waits are drawn

    async def limited_job(i):
        async with semaphore:                     # waiting for a permit: light
            await job(i)                          # job is tracked: solid

or mark any wait yourself::

    async with tl.waiting():
        i = await queue.get()
    async with tl.span(f"job {i}"):
        ...

A wait joins the next bar that the same task starts (a coroutine you ``await`` runs in
your task; one given to ``gather`` or ``create_task`` runs in a task of its own). A wait
that no bar follows (say, the task was cancelled while waiting) gets a row of its own,
named by ``tl.waiting(label)``'s label, or else by the task (``create_task(..., name=...)``).
``span.waited`` says how many seconds a span waited before it ran.

Which clock? With the default ``clock="auto"`` a timeline uses the event loop's virtual
clock when the code runs under :func:`asynclab.testing.run_virtual` (there, sleeps take no
real time and the chart shows exact loop times), and the real clock
(``time.perf_counter``) everywhere else, so blocking calls such as ``time.sleep()`` show up
as bars that hold all the others back. A timeline shows one run: if spans arrive from a
different virtual loop (a second ``run_virtual``), the old spans are dropped first. Use
``tl.clear()`` to start over yourself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
import itertools
import logging
import math
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .testing import _BriefRepr

__all__ = ["Span", "Timeline", "compare"]

F = TypeVar("F", bound=Callable[..., Any])

_CLOCKS = ("auto", "real", "loop")
_WAIT_CHAR, _CANCELLED_CHAR = "░", "×"
_KEY = [("█", "ran"), ("░", "waited"), ("▒", "raised an exception"), ("×", "cancelled")]
_MANY = 40  # with more bars than this, only some of them get a label

_short = _BriefRepr()  # no addresses or file paths in labels and messages
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxdict = 4
_short.maxstring = 24
_short.maxother = 24
_short.maxlevel = 2


@dataclass(frozen=True)
class Span:
    """One recorded span: ``label``; ``start`` and ``end`` of its running time, in seconds
    since the timeline's first start; ``duration`` (``end - start``); how it ended:
    ``failed`` (by an exception), ``cancelled`` (by ``asyncio.CancelledError``), ``error``
    (that exception's name, e.g. ``"ValueError"``, or None); ``waited``, the seconds it
    waited just before ``start`` (see ``Timeline.waiting``), and ``began``
    (``start - waited``).

    Two spans are equal when label, times, ``failed``, ``cancelled`` and ``waited`` are.
    """

    label: str
    start: float
    end: float
    failed: bool = False
    cancelled: bool = False
    waited: float = 0.0
    error: str | None = field(default=None, compare=False)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def began(self) -> float:
        return round(self.start - self.waited, 6)


@dataclass(eq=False)
class _Record:
    label: str
    start: float
    end: float
    order: int
    error: str | None = None  # the name of the exception it ended with
    cancelled: bool = False
    wait_start: float | None = None  # it waited from here until start
    only_waited: bool = False  # a wait that no span took (yet)


def _ending(exc_type: Any) -> tuple[str | None, bool]:
    """How a block ended: the exception's name (None if it ended normally), cancelled?"""
    if exc_type is None or issubclass(exc_type, GeneratorExit):  # a generator closed early
        return None, False
    return exc_type.__name__, issubclass(exc_type, asyncio.CancelledError)


def _owner() -> Any:
    """Who is running: the current asyncio task, or else the current thread's id."""
    loop = asyncio._get_running_loop()
    task = asyncio.current_task(loop) if loop is not None else None
    return task if task is not None else threading.get_ident()


def _owner_name(owner: Any) -> str:
    if isinstance(owner, asyncio.Task):
        return owner.get_name()
    return threading.current_thread().name


def _call_label(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [_short.repr(a) for a in args] + [f"{k}={_short.repr(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


class _SpanContext:
    """What ``Timeline.span()`` returns: a context manager for ``with`` and ``async with``."""

    _waiting = False  # a span of running time; _WaitContext times a wait

    def __init__(self, timeline: Timeline, label: str | None) -> None:
        self._timeline = timeline
        self._label = label
        self._source: Any = None
        self._clock: Callable[[], float] | None = None
        self._owner: Any = None
        self._start = 0.0
        self._order = 0
        self._wait_start: float | None = None

    def __enter__(self) -> _SpanContext:
        self._source, self._clock = self._timeline._start_clock()
        self._owner = _owner()
        if self._label is None:
            self._label = _owner_name(self._owner)
        self._order = next(self._timeline._order)  # ties are shown in the order they began
        if not self._waiting:  # the wait this task just finished becomes part of this row
            wait = self._timeline._take_wait(self._source, self._owner)
            if wait is not None:
                self._wait_start, self._order = wait.wait_start, wait.order
        self._start = self._clock()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._clock is not None, "span ended before it started"
        end = self._clock()
        error, cancelled = _ending(exc_type)
        assert self._label is not None
        if self._waiting:  # a row that only waited, unless the task's next span takes it
            record = _Record(
                self._label, end, end, self._order, error, cancelled, self._start, True
            )
        else:
            record = _Record(
                self._label, self._start, end, self._order, error, cancelled, self._wait_start
            )
        self._timeline._add(self._source, record, self._owner if self._waiting else None)

    async def __aenter__(self) -> _SpanContext:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


class _WaitContext(_SpanContext):
    """What ``Timeline.waiting()`` returns: times a wait instead of running time."""

    _waiting = True


# What Timeline.watch() times, per kind of primitive: method -> "would it wait now?"
_WATCHED: list[tuple[type, dict[str, Callable[[Any], bool]]]] = [
    (asyncio.Semaphore, {"acquire": lambda p: p.locked()}),  # BoundedSemaphore too
    (asyncio.Lock, {"acquire": lambda p: p.locked()}),
    (asyncio.Queue, {"get": lambda p: p.empty(), "put": lambda p: p.full()}),
    (asyncio.Event, {"wait": lambda p: not p.is_set()}),
]


class Timeline:
    """Records spans of time and draws them as a chart (see the module's help).

    ``Timeline(clock="auto")``: ``clock`` is ``"auto"`` (virtual loop time under
    ``run_virtual``, real time otherwise), ``"real"`` (always ``time.perf_counter``),
    ``"loop"`` (the running event loop's ``time()``), or any function without arguments
    that returns the time in seconds.

    Safe to use from several threads (for example from ``asyncio.to_thread`` workers).
    """

    def __init__(self, clock: str | Callable[[], float] = "auto") -> None:
        if isinstance(clock, str):
            if clock not in _CLOCKS:
                raise ValueError(
                    f"clock must be 'auto', 'real', 'loop' or a function, got {clock!r}"
                )
        elif not callable(clock):
            raise TypeError(f"clock must be 'auto', 'real', 'loop' or a function, got {clock!r}")
        self.clock = clock
        self._lock = threading.Lock()
        self._records: list[_Record] = []
        self._order = itertools.count()
        self._source: Any = None  # where the times come from: "real", a clock, a loop ref
        # the last wait of each task (weakly held) or thread, until its next span takes it
        self._task_waits: weakref.WeakKeyDictionary[Any, _Record] = weakref.WeakKeyDictionary()
        self._thread_waits: dict[int, _Record] = {}

    # ---------------------------------------------------------------- clocks

    def _clock_now(self) -> tuple[Any, Callable[[], float]]:
        """The clock to use for a span starting now, and a key naming where it comes from."""
        if callable(self.clock):
            return self.clock, self._custom_clock
        if self.clock == "real":
            return "real", time.perf_counter
        loop = asyncio._get_running_loop()
        if self.clock == "auto" and loop is not None and not getattr(loop, "looptime_on", False):
            return "real", time.perf_counter  # an ordinary loop's clock is the real one
        if loop is None:
            bound = self._source() if isinstance(self._source, weakref.ref) else None
            if bound is not None and not bound.is_closed():  # e.g. in a to_thread worker
                return self._source, bound.time
            if self.clock == "loop":
                raise RuntimeError(
                    "Timeline(clock='loop') needs a running event loop: use it inside a "
                    "coroutine, or use clock='real'"
                )
            return "real", time.perf_counter
        return weakref.ref(loop), loop.time

    def _start_clock(self) -> tuple[Any, Callable[[], float]]:
        """Pick the clock for a span that starts now; a different clock than before
        means a new run: the old spans are dropped."""
        source, clock = self._clock_now()
        with self._lock:
            if source != self._source:
                self._forget()
                self._source = source
        return source, clock

    def _forget(self) -> None:
        self._records.clear()
        self._task_waits.clear()
        self._thread_waits.clear()

    def _custom_clock(self) -> float:
        value = self.clock()  # type: ignore[operator]
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise TypeError(f"the timeline's clock must return a number, got {value!r}")
        return float(value)

    def _add(self, source: Any, record: _Record, waiter: Any = None) -> None:
        """Keep a record; ``waiter``: the task or thread whose next span may take it."""
        with self._lock:
            if source != self._source:  # it began before a clear() or a new run
                return
            self._records.append(record)
            if waiter is not None:
                waits = self._task_waits if isinstance(waiter, asyncio.Task) else self._thread_waits
                if record.error is None:
                    waits[waiter] = record
                else:  # a wait that ended by an exception stays a row of its own
                    waits.pop(waiter, None)

    def _take_wait(self, source: Any, owner: Any) -> _Record | None:
        """The wait ``owner`` finished last, if no span has taken it yet (removed)."""
        with self._lock:
            waits = self._task_waits if isinstance(owner, asyncio.Task) else self._thread_waits
            wait = waits.pop(owner, None)
            if wait is None or source != self._source:
                return None
            for i, record in enumerate(self._records):
                if record is wait:
                    del self._records[i]
                    return wait
            return None

    # -------------------------------------------------------------- recording

    def span(self, label: str) -> _SpanContext:
        """Time a block: ``with tl.span("parse"):`` or ``async with tl.span("fetch"):``.

        The span is recorded when the block ends, also when it ends with an exception.
        """
        if not isinstance(label, str):
            raise TypeError(f"a span's label must be a string, got {label!r}")
        return _SpanContext(self, label)

    def add(self, label: str, start: float, end: float) -> None:
        """Record a span timed elsewhere with ``time.perf_counter()``, for example in a worker
        process: every process of a machine reads the same ``perf_counter`` clock, so spans
        from several processes line up (``asynclab.work.timed`` returns such times).

        Only for a timeline on the real clock (``clock="auto"`` outside ``run_virtual``, or
        ``"real"``); spans from another clock recorded before are dropped, as for a new run.
        """
        if not isinstance(label, str):
            raise TypeError(f"a span's label must be a string, got {label!r}")
        if self.clock not in ("auto", "real"):
            raise ValueError("Timeline.add() takes time.perf_counter() times: use it on a "
                             "timeline with clock='auto' or clock='real'")
        for name, value in (("start", start), ("end", end)):
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
                raise TypeError(f"{name} must be a number of seconds, got {value!r}")
        if end < start:
            raise ValueError(f"a span cannot end ({end!r}) before it starts ({start!r})")
        with self._lock:
            if self._source != "real":
                self._forget()
                self._source = "real"
            self._records.append(_Record(label, float(start), float(end), next(self._order)))

    def waiting(self, label: str | None = None) -> _SpanContext:
        """Time a wait: ``async with tl.waiting(): await semaphore.acquire()``.

        The wait is drawn light, just before the next span (bar) that the same task
        starts, on its row. If no span follows (the task was cancelled while waiting, or
        does its work without a span), the wait gets a row of its own, named ``label`` or,
        without one, by the task's name. Works with ``with`` too (e.g. in a thread).
        """
        if label is not None and not isinstance(label, str):
            raise TypeError(f"a wait's label must be a string, got {label!r}")
        return _WaitContext(self, label)

    def watch(self, primitive: Any, label: str | None = None) -> Any:
        """Draw every wait on an asyncio Semaphore, Lock, Queue or Event; returns it.

        ``semaphore = tl.watch(asyncio.Semaphore(5))``, then use it as usual:
        ``async with semaphore:`` (or ``await semaphore.acquire()``, ``await
        queue.get()``, ``await queue.put(x)``, ``await event.wait()``). Each call that has
        to wait is timed as with :meth:`waiting` (``label`` as there); calls that get
        through at once draw nothing. Watch a primitive with one timeline at a time (the
        last ``watch`` wins).
        """
        if label is not None and not isinstance(label, str):
            raise TypeError(f"a wait's label must be a string, got {label!r}")
        methods = next((m for kind, m in _WATCHED if isinstance(primitive, kind)), None)
        if methods is None:
            kind = type(primitive)
            hint = (f" ({kind.__module__}'s, for threads: use asyncio.{kind.__name__} in "
                    "coroutines)" if kind.__module__ in ("threading", "queue", "multiprocessing")
                    and hasattr(asyncio, kind.__name__) else "")
            raise TypeError(
                "Timeline.watch() takes an asyncio Semaphore, BoundedSemaphore, Lock, Queue "
                f"or Event, got {_short.repr(primitive)}{hint}; time other waits with "
                "`async with tl.waiting(): ...`"
            )
        for name, would_wait in methods.items():
            method = getattr(type(primitive), name).__get__(primitive)  # never a wrapper
            setattr(primitive, name, self._watched(method, primitive, would_wait, label))
        return primitive

    def _watched(
        self, method: Any, primitive: Any, would_wait: Callable[[Any], bool], label: str | None
    ) -> Any:
        @functools.wraps(method)
        async def watched(*args: Any, **kwargs: Any) -> Any:
            if not would_wait(primitive):
                return await method(*args, **kwargs)
            async with self.waiting(label):
                return await method(*args, **kwargs)

        return watched

    def track(self, func_or_label: Any = None, /) -> Any:
        """Decorator: record a span for every call of a function.

        ``@tl.track`` labels each call with its arguments, e.g. ``fetch_data_async(0.2)``;
        ``@tl.track("download")`` uses a fixed label. Works for ``async def`` functions
        (the span lasts until the coroutine finishes) and ordinary functions.
        """
        if isinstance(func_or_label, str):
            label = func_or_label
            return lambda func: self._wrap(func, label)
        if func_or_label is None:
            return lambda func: self._wrap(func, None)
        return self._wrap(func_or_label, None)

    def _wrap(self, func: F, label: str | None) -> F:
        if not callable(func):
            raise TypeError(f"Timeline.track needs a function, got {func!r}")
        if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
            raise TypeError(
                f"Timeline.track cannot time the generator function {func.__name__}(): "
                "use `with tl.span(...)` around the loop instead"
            )
        name = getattr(func, "__name__", type(func).__name__)

        def label_for(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            return label if label is not None else _call_label(name, args, kwargs)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_tracked(*args: Any, **kwargs: Any) -> Any:
                async with self.span(label_for(args, kwargs)):
                    return await func(*args, **kwargs)

            return async_tracked  # type: ignore[return-value]

        @functools.wraps(func)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            with self.span(label_for(args, kwargs)):
                return func(*args, **kwargs)

        return tracked  # type: ignore[return-value]

    def clear(self) -> None:
        """Forget all spans (and which clock they came from)."""
        with self._lock:
            self._forget()
            self._source = None

    # ---------------------------------------------------------------- results

    @property
    def spans(self) -> list[Span]:
        """The recorded spans in the order they started; times count from the first start."""
        with self._lock:
            # a wait of no time that nothing followed (on a virtual clock) has nothing to show
            shown = (
                r
                for r in self._records
                if not (r.only_waited and r.wait_start == r.start and r.error is None)
            )
            records = sorted(shown, key=lambda r: (_began(r), r.order))
        if not records:
            return []
        zero = _began(records[0])
        spans = []
        for r in records:
            start, began = round(r.start - zero, 6), round(_began(r) - zero, 6)
            spans.append(
                Span(
                    r.label,
                    start,
                    round(r.end - zero, 6),
                    failed=r.error is not None and not r.cancelled,
                    cancelled=r.cancelled,
                    waited=round(start - began, 6),
                    error=r.error,
                )
            )
        return spans

    @property
    def total(self) -> float:
        """Seconds from the first start to the last end (0 when nothing was recorded)."""
        spans = self.spans
        return max(s.end for s in spans) if spans else 0.0

    def text(self, width: int = 50) -> str:
        """The chart as text, one row per span, then the total::

        fetch(0.2) |█████████████████████████████████               | 0.00–0.20 s
        fetch(0.3) |██████████████████████████████████████████████████| 0.00–0.30 s
        total 0.30 s

        ``░`` is time spent waiting, ``▒`` a span that raised an exception, ``×`` a span
        that was cancelled; when any appears, a ``key:`` line before the total says so.
        """
        if isinstance(width, bool) or not isinstance(width, int) or width < 10:
            raise ValueError(f"width must be a whole number of at least 10, got {width!r}")
        spans = self.spans
        if not spans:
            return "(no spans recorded)"
        total = self.total
        labels = [s.label if len(s.label) <= 30 else s.label[:29] + "…" for s in spans]
        pad = max(len(label) for label in labels)
        rows = []
        used: set[str] = set()
        for span, label in zip(spans, labels, strict=True):
            a, m, b = _row_cells(span, total, width)
            fill = _CANCELLED_CHAR if span.cancelled else "▒" if span.failed else "█"
            bar = " " * a + _WAIT_CHAR * (m - a) + fill * (b - m) + " " * (width - b)
            used.update(bar)
            notes = [f"waited {span.waited:.2f} s"] if span.waited else []
            if span.failed:
                notes.append(f"raised {span.error}")
            if span.cancelled:
                notes.append("cancelled")
            note = f" ({', '.join(notes)})" if notes else ""
            rows.append(f"{label:<{pad}} |{bar}| {span.start:.2f}–{span.end:.2f} s{note}")
        if used - {"█", " "}:
            rows.append("key: " + "  ".join(f"{c} {w}" for c, w in _KEY if c in used))
        rows.append(f"total {total:.2f} s")
        return "\n".join(rows)

    def plot(self, title: str | None = None, ideal: float | None = None, ax: Any = None) -> Any:
        """Draw the timeline and return the matplotlib ``Figure``.

        One labelled horizontal bar per span (top to bottom in start order), a solid line at
        the total ("total 0.30 s") and, if you give ``ideal`` (seconds), a dashed line there
        ("ideal 0.30 s") to compare against. Pass ``ax`` to draw into your own axes.
        Waiting is drawn light and dotted before a bar; a span that raised is red with a red
        ✕ at its end, one that was cancelled grey and cross-hatched; the legend says which.

        The figure is not one of pyplot's, so a notebook shows it exactly once (when it is
        the cell's last expression), as one PNG image.
        """
        ideal = _check_ideal(ideal)
        if ax is not None:
            _draw(ax, self.spans, title, ideal)
            return ax.figure
        spans = self.spans
        fig = _new_figure(_height(len(spans)))
        _draw(fig.add_subplot(), spans, title, ideal)
        return fig

    # ----------------------------------------------------------- display

    def _repr_png_(self) -> bytes:
        return _png(self.plot())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        n = len(self.spans)
        return f"<Timeline: {n} span{'s' if n != 1 else ''}, total {self.total:.2f} s>"


def _began(record: _Record) -> float:
    return record.start if record.wait_start is None else record.wait_start


def _row_cells(span: Span, total: float, width: int) -> tuple[int, int, int]:
    """Which character cells a row covers: waiting in [a, m), running in [m, b). A wait
    gets at least one cell; so does the running part, unless it lasted no time after a
    wait and ended normally (then the row shows only the wait)."""

    def cell(t: float) -> int:
        return min(width, round(t / total * width)) if total > 0 else 0

    a = min(width - 1, cell(span.began))
    m = max(a + 1, cell(span.start)) if span.waited else a
    ended_plainly = not (span.failed or span.cancelled)
    least = 0 if (span.waited and span.duration == 0 and ended_plainly) else 1
    b = min(width, max(m + least, cell(span.end)))
    m = min(m, b - least)  # at the right edge, the wait gives way to how the span ended
    a = min(a, max(0, m - 1)) if span.waited else m
    return a, m, b


def _check_ideal(ideal: Any) -> float | None:
    if ideal is None:
        return None
    if isinstance(ideal, bool) or not isinstance(ideal, int | float) or not math.isfinite(ideal):
        raise TypeError(f"ideal must be a number of seconds, got {ideal!r}")
    if ideal < 0:
        raise ValueError(f"ideal must not be negative, got {ideal!r}")
    return float(ideal)


# A chart is drawn by matplotlib's Figure and its Agg canvas, never through pyplot: pyplot
# would start Jupyter's inline backend (more imports, and a second rendering of every chart
# to crop it), and keep every figure until it is closed. The figure shows itself in a
# notebook as one PNG, drawn once at _DPI.
_WIDTH, _DPI = 8.0, 96


class _QuietFontCache:
    """A logging filter for matplotlib's "building the font cache; this may take a
    moment", which it says on stderr when the first import takes over 5 s (a new
    MPLCONFIGDIR on a busy machine): in a notebook that is a red box under the first chart,
    and a graded cell with anything on stderr scores 0."""

    @staticmethod
    def filter(record: logging.LogRecord) -> bool:
        return "building the font cache" not in record.getMessage()


@functools.cache
def _figure_class() -> type:
    logger = logging.getLogger("matplotlib.font_manager")
    logger.addFilter(_QuietFontCache)
    try:
        from matplotlib.figure import Figure
    finally:
        logger.removeFilter(_QuietFontCache)

    class TimelineFigure(Figure):
        """A matplotlib Figure that a notebook shows as one PNG image."""

        def _repr_png_(self) -> bytes:
            return _png(self)

    _show_as_png(TimelineFigure)
    return TimelineFigure


def _show_as_png(cls: type) -> None:
    """In IPython, show figures of ``cls`` with their own ``_repr_png_``, also once pyplot's
    inline backend has claimed every Figure (it would draw each twice, to crop it)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", {})
    if "image/png" in formatters:
        formatters["image/png"].for_type(cls, _png)


def _new_figure(height: float) -> Any:
    figure_class = _figure_class()  # first: it imports matplotlib quietly
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = figure_class(figsize=(_WIDTH, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _height(n: int) -> float:
    """Figure height in inches for n bars."""
    return min(10.0, 1.3 + 0.3 * max(n, 2))


def _escape(label: str) -> str:
    return label.replace("$", r"\$")  # "$" would switch matplotlib to math mode


def _light(color: str) -> tuple[float, float, float]:
    """A colour mixed with white: the same hue, drawn light (for waiting)."""
    from matplotlib.colors import to_rgb

    return tuple(c + (1.0 - c) * 0.7 for c in to_rgb(color))  # type: ignore[return-value]


# How a span's running bar looks, by how it ended: face colour (None: the span's own
# colour), hatch, edge colour, and the legend's words for it
_STYLES = {
    "ran": (None, None, "black", None),
    "failed": ("tab:red", "//", "black", "raised an exception"),
    "cancelled": ("0.82", "xx", "0.35", "cancelled"),
}
# ... and what marks where it ended: a red ✕ where it raised, a dark stroke where it was
# cancelled (both visible even for a span that lasted no time)
_END_MARKERS: dict[str, dict[str, Any]] = {
    "failed": dict(
        marker="X", markersize=9, color="tab:red", markeredgecolor="black", markeredgewidth=0.6
    ),
    "cancelled": dict(marker="|", markersize=13, markeredgewidth=2.5, color="0.3"),
}


def _draw(ax: Any, spans: list[Span], title: str | None, ideal: float | None) -> None:
    """Draw spans into ax: bars (waiting light, then running), labels, end markers, total
    and ideal lines, legend."""
    total = max((s.end for s in spans), default=0.0)
    colors: dict[str, str] = {}  # one colour per function name
    runs: dict[str, list[Any]] = {k: [] for k in ("y", "width", "left", "face", "hatch", "edge")}
    waits: dict[str, list[Any]] = {k: [] for k in ("y", "width", "left", "face", "edge")}
    ends: dict[str, list[tuple[float, int]]] = {"failed": [], "cancelled": []}  # markers
    first: dict[str, int] = {}  # kind -> its first bar, for the legend
    for i, span in enumerate(spans):
        base = span.label.split("(", 1)[0].rstrip("0123456789 #")  # "GET 7" -> "GET"
        color = colors.setdefault(base, f"C{len(colors) % 10}")
        kind = "cancelled" if span.cancelled else "failed" if span.failed else "ran"
        if span.waited:
            first.setdefault("waiting", len(waits["y"]))
            for key, value in zip(
                waits, (i, span.waited, span.began, _light(color), color), strict=True
            ):
                waits[key].append(value)
            if kind == "ran" and span.duration == 0:
                continue  # it only waited
        face, hatch, edge, _ = _STYLES[kind]
        first.setdefault(kind, len(runs["y"]))
        width = max(span.duration, total * 0.004)  # zero-length spans stay visible
        for key, value in zip(
            runs, (i, width, span.start, face or color, hatch, edge), strict=True
        ):
            runs[key].append(value)
        if kind in ends:
            ends[kind].append((span.end, i))
    handles: list[Any] = []
    labels: list[str] = []
    run_bars = wait_bars = None
    if runs["y"]:
        run_bars = ax.barh(
            runs["y"],
            runs["width"],
            left=runs["left"],
            height=0.6,
            color=runs["face"],
            hatch=runs["hatch"],
            edgecolor=runs["edge"],
            linewidth=0.5,
        )
    if waits["y"]:
        wait_bars = ax.barh(
            waits["y"],
            waits["width"],
            left=waits["left"],
            height=0.6,
            color=waits["face"],
            hatch="...",
            edgecolor=waits["edge"],
            linewidth=0.5,
        )
        handles.append(wait_bars.patches[first["waiting"]])
        labels.append("waiting")
    for kind, marker in _END_MARKERS.items():
        if ends[kind] and run_bars is not None:
            xs, ys = zip(*ends[kind], strict=True)
            (markers,) = ax.plot(xs, ys, linestyle="none", clip_on=False, zorder=3, **marker)
            handles.append((run_bars.patches[first[kind]], markers))
            labels.append(_STYLES[kind][3])
    if spans:
        step = 1 if len(spans) <= _MANY else math.ceil(len(spans) / _MANY)
        ticks = list(range(0, len(spans), step))
        ax.set_yticks(ticks, labels=[_escape(spans[i].label) for i in ticks])
        ax.set_ylim(len(spans) - 0.5, -0.5)  # first span on top
        line = ax.axvline(total, color="black", linewidth=1.5)
        handles.append(line)
        labels.append(f"total {total:.2f} s")
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no spans recorded", transform=ax.transAxes, ha="center", va="center")
    if ideal is not None:
        line = ax.axvline(ideal, color="tab:green", linestyle="--", linewidth=1.5)
        handles.append(line)
        labels.append(f"ideal {ideal:.2f} s")
    right = max(total, ideal or 0.0)
    ax.set_xlim(0, right * 1.05 if right > 0 else 1.0)
    ax.set_xlabel("seconds")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(_escape(title))
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


def compare(
    *timelines: Timeline, titles: list[str] | None = None, ideal: float | None = None
) -> Any:
    """Draw several timelines stacked, on one shared time axis, and return the Figure.

    ``compare(tl_sequential, tl_gather, titles=["sequential", "gather"])`` shows at a
    glance how much time running things concurrently saves. ``ideal`` (seconds) draws the
    same dashed line on every chart.
    """
    if not timelines:
        raise TypeError("compare() needs at least one Timeline")
    for tl in timelines:
        if not isinstance(tl, Timeline):
            raise TypeError(f"compare() takes Timeline objects, got {tl!r}")
    if titles is not None:
        titles = list(titles)
        if len(titles) != len(timelines):
            raise ValueError(f"compare() got {len(timelines)} timelines but {len(titles)} titles")
    ideal = _check_ideal(ideal)
    all_spans = [tl.spans for tl in timelines]
    sizes = [max(len(spans), 2) for spans in all_spans]
    fig = _new_figure(min(14.0, sum(_height(n) for n in sizes)))
    axes = fig.subplots(
        len(timelines), 1, sharex=True, height_ratios=[n + 2 for n in sizes], squeeze=False
    )
    longest = 0.0
    for i, (ax, spans) in enumerate(zip(axes[:, 0], all_spans, strict=True)):
        _draw(ax, spans, titles[i] if titles else None, ideal)
        longest = max(longest, max((s.end for s in spans), default=0.0))
        if i < len(timelines) - 1:
            ax.set_xlabel("")
    right = max(longest, ideal or 0.0)
    axes[0, 0].set_xlim(0, right * 1.05 if right > 0 else 1.0)
    return fig
