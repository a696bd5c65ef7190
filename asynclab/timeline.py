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
import math
import reprlib
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["Span", "Timeline", "compare"]

F = TypeVar("F", bound=Callable[..., Any])

_CLOCKS = ("auto", "real", "loop")
_MANY = 40  # with more bars than this, only some of them get a label

_short = reprlib.Repr()
_short.maxlist = _short.maxtuple = _short.maxset = _short.maxdict = 4
_short.maxstring = 24
_short.maxother = 24
_short.maxlevel = 2


@dataclass(frozen=True)
class Span:
    """One recorded span: ``label``, ``start`` and ``end`` in seconds since the timeline's
    first start, ``duration`` (``end - start``), and ``failed`` (it ended with an exception)."""

    label: str
    start: float
    end: float
    failed: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class _Record:
    label: str
    start: float
    end: float
    failed: bool
    order: int


def _call_label(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [_short.repr(a) for a in args] + [f"{k}={_short.repr(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


class _SpanContext:
    """What ``Timeline.span()`` returns: a context manager for ``with`` and ``async with``."""

    def __init__(self, timeline: Timeline, label: str) -> None:
        self._timeline = timeline
        self._label = label
        self._source: Any = None
        self._clock: Callable[[], float] | None = None
        self._start = 0.0
        self._order = 0

    def __enter__(self) -> _SpanContext:
        self._source, self._clock = self._timeline._start_clock()
        self._order = next(self._timeline._order)  # ties are shown in the order they began
        self._start = self._clock()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._clock is not None, "span ended before it started"
        end = self._clock()
        failed = exc_type is not None and not issubclass(exc_type, GeneratorExit)
        self._timeline._add(self._source, self._label, self._start, end, failed, self._order)

    async def __aenter__(self) -> _SpanContext:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)


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
                self._records.clear()
                self._source = source
        return source, clock

    def _custom_clock(self) -> float:
        value = self.clock()  # type: ignore[operator]
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise TypeError(f"the timeline's clock must return a number, got {value!r}")
        return float(value)

    def _add(
        self, source: Any, label: str, start: float, end: float, failed: bool, order: int
    ) -> None:
        with self._lock:
            if source == self._source:  # else it began before a clear() or a new run
                self._records.append(_Record(label, start, end, failed, order))

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
                self._records.clear()
                self._source = "real"
            order = next(self._order)
            self._records.append(_Record(label, float(start), float(end), False, order))

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
            self._records.clear()
            self._source = None

    # ---------------------------------------------------------------- results

    @property
    def spans(self) -> list[Span]:
        """The recorded spans in the order they started; times count from the first start."""
        with self._lock:
            records = sorted(self._records, key=lambda r: (r.start, r.order))
        if not records:
            return []
        zero = records[0].start
        return [
            Span(r.label, round(r.start - zero, 6), round(r.end - zero, 6), r.failed)
            for r in records
        ]

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
        for span, label in zip(spans, labels, strict=True):
            a, b = _cells(span.start, span.end, total, width)
            bar = " " * a + ("▒" if span.failed else "█") * (b - a) + " " * (width - b)
            note = " (raised)" if span.failed else ""
            rows.append(f"{label:<{pad}} |{bar}| {span.start:.2f}–{span.end:.2f} s{note}")
        rows.append(f"total {total:.2f} s")
        return "\n".join(rows)

    def plot(self, title: str | None = None, ideal: float | None = None, ax: Any = None) -> Any:
        """Draw the timeline and return the matplotlib ``Figure``.

        One labelled horizontal bar per span (top to bottom in start order), a solid line at
        the total ("total 0.30 s") and, if you give ``ideal`` (seconds), a dashed line there
        ("ideal 0.30 s") to compare against. Pass ``ax`` to draw into your own axes.

        The figure is closed before it is returned, so a notebook shows it exactly once
        (when it is the cell's last expression).
        """
        ideal = _check_ideal(ideal)
        if ax is not None:
            _draw(ax, self.spans, title, ideal)
            return ax.figure
        import matplotlib.pyplot as plt

        spans = self.spans
        fig, ax = plt.subplots(figsize=(8, _height(len(spans))), layout="constrained")
        try:
            _draw(ax, spans, title, ideal)
        finally:
            plt.close(fig)
        return fig

    # ----------------------------------------------------------- display

    def _repr_png_(self) -> bytes:
        fig = self.plot()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=96)
        return buffer.getvalue()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text())

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        n = len(self.spans)
        return f"<Timeline: {n} span{'s' if n != 1 else ''}, total {self.total:.2f} s>"


def _cells(start: float, end: float, total: float, width: int) -> tuple[int, int]:
    """Which character cells a span covers (at least one)."""
    if total <= 0:
        return 0, 1
    a = min(width - 1, round(start / total * width))
    b = max(a + 1, min(width, round(end / total * width)))
    return a, b


def _check_ideal(ideal: Any) -> float | None:
    if ideal is None:
        return None
    if isinstance(ideal, bool) or not isinstance(ideal, int | float) or not math.isfinite(ideal):
        raise TypeError(f"ideal must be a number of seconds, got {ideal!r}")
    if ideal < 0:
        raise ValueError(f"ideal must not be negative, got {ideal!r}")
    return float(ideal)


def _height(n: int) -> float:
    """Figure height in inches for n bars."""
    return min(10.0, 1.3 + 0.3 * max(n, 2))


def _escape(label: str) -> str:
    return label.replace("$", r"\$")  # "$" would switch matplotlib to math mode


def _draw(ax: Any, spans: list[Span], title: str | None, ideal: float | None) -> None:
    """Draw spans into ax: bars, labels, total and ideal lines, legend."""
    total = max((s.end for s in spans), default=0.0)
    colors: dict[str, str] = {}  # one colour per function name
    failure_labelled = False
    for i, span in enumerate(spans):
        base = span.label.split("(", 1)[0].rstrip("0123456789 #")  # "GET 7" -> "GET"
        color = colors.setdefault(base, f"C{len(colors) % 10}")
        label = None
        if span.failed and not failure_labelled:
            label, failure_labelled = "raised an exception", True
        ax.barh(
            i,
            max(span.duration, total * 0.004),  # zero-length spans stay visible
            left=span.start,
            height=0.6,
            color="tab:red" if span.failed else color,
            hatch="//" if span.failed else None,
            edgecolor="black",
            linewidth=0.5,
            label=label,
        )
    if spans:
        step = 1 if len(spans) <= _MANY else math.ceil(len(spans) / _MANY)
        ticks = list(range(0, len(spans), step))
        ax.set_yticks(ticks, labels=[_escape(spans[i].label) for i in ticks])
        ax.set_ylim(len(spans) - 0.5, -0.5)  # first span on top
        ax.axvline(total, color="black", linewidth=1.5, label=f"total {total:.2f} s")
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no spans recorded", transform=ax.transAxes, ha="center", va="center")
    if ideal is not None:
        ax.axvline(
            ideal, color="tab:green", linestyle="--", linewidth=1.5, label=f"ideal {ideal:.2f} s"
        )
    right = max(total, ideal or 0.0)
    ax.set_xlim(0, right * 1.05 if right > 0 else 1.0)
    ax.set_xlabel("seconds")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(_escape(title))
    if spans or ideal is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")


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
    import matplotlib.pyplot as plt

    all_spans = [tl.spans for tl in timelines]
    sizes = [max(len(spans), 2) for spans in all_spans]
    height = min(14.0, sum(_height(n) for n in sizes))
    fig, axes = plt.subplots(
        len(timelines),
        1,
        sharex=True,
        figsize=(8, height),
        height_ratios=[n + 2 for n in sizes],
        layout="constrained",
        squeeze=False,
    )
    try:
        longest = 0.0
        for i, (ax, spans) in enumerate(zip(axes[:, 0], all_spans, strict=True)):
            _draw(ax, spans, titles[i] if titles else None, ideal)
            longest = max(longest, max((s.end for s in spans), default=0.0))
            if i < len(timelines) - 1:
                ax.set_xlabel("")
        right = max(longest, ideal or 0.0)
        axes[0, 0].set_xlim(0, right * 1.05 if right > 0 else 1.0)
    finally:
        plt.close(fig)
    return fig
