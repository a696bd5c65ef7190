"""Tests for asynclab.timeline."""

from __future__ import annotations

import os

os.environ["MPLBACKEND"] = "Agg"  # before pyplot is imported anywhere in this process

import asyncio  # noqa: E402
import base64  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from asynclab.testing import run_virtual  # noqa: E402
from asynclab.timeline import Span, Timeline, compare  # noqa: E402


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_tracked(tl: Timeline):
    @tl.track
    async def fetch_data_async(delay):
        await asyncio.sleep(delay)
        return delay

    return fetch_data_async


def gather_timeline() -> Timeline:
    tl = Timeline()
    fetch = make_tracked(tl)

    async def fetch_all(delays):
        return await asyncio.gather(*(fetch(d) for d in delays))

    assert run_virtual(fetch_all, [0.2, 0.3, 0.1]).value == [0.2, 0.3, 0.1]
    return tl


def sequential_timeline() -> Timeline:
    tl = Timeline()
    fetch = make_tracked(tl)

    async def fetch_all(delays):
        return [await fetch(d) for d in delays]

    run_virtual(fetch_all, [0.2, 0.3, 0.1])
    return tl


# -------------------------------------------------------------------------- recording


def test_gather_under_virtual_time_gives_exact_spans():
    tl = gather_timeline()
    assert tl.spans == [
        Span("fetch_data_async(0.2)", 0.0, 0.2),
        Span("fetch_data_async(0.3)", 0.0, 0.3),
        Span("fetch_data_async(0.1)", 0.0, 0.1),
    ]
    assert tl.total == 0.3
    assert [s.duration for s in tl.spans] == [0.2, 0.3, 0.1]


def test_sequential_under_virtual_time_adds_up():
    tl = sequential_timeline()
    assert [(s.start, s.end) for s in tl.spans] == [(0.0, 0.2), (0.2, 0.5), (0.5, 0.6)]
    assert tl.total == 0.6


def test_span_works_with_and_without_async_and_records_failures():
    clock = FakeClock()
    tl = Timeline(clock=clock)
    with tl.span("sync work"):
        clock.now += 0.5
    with pytest.raises(ValueError):
        with tl.span("broken"):
            clock.now += 0.25
            raise ValueError("boom")

    async def main():
        async with tl.span("A"):
            clock.now += 1
        with pytest.raises(KeyError):
            async with tl.span("B"):
                raise KeyError

    asyncio.run(main())
    assert tl.spans == [
        Span("sync work", 0.0, 0.5),
        Span("broken", 0.5, 0.75, failed=True),
        Span("A", 0.75, 1.75),
        Span("B", 1.75, 1.75, failed=True),
    ]
    assert tl.total == 1.75


def test_nested_spans_are_all_recorded_in_start_order():
    clock = FakeClock()
    tl = Timeline(clock)
    with tl.span("outer"):
        clock.now += 1
        with tl.span("inner"):
            clock.now += 1
        clock.now += 1
    assert tl.spans == [Span("outer", 0.0, 3.0), Span("inner", 1.0, 2.0)]


def test_track_labels_plain_functions_and_custom_labels():
    clock = FakeClock()
    tl = Timeline(clock)

    @tl.track
    def parse(text, *, strict=False):
        clock.now += 0.1
        return text.upper()

    @tl.track("download")
    async def download(url):
        return url

    @tl.track()
    def noop():
        return None

    assert parse("abc", strict=True) == "ABC"
    assert parse.__name__ == "parse"
    assert asyncio.run(download("x")) == "x"
    noop()
    assert [s.label for s in tl.spans] == ["parse('abc', strict=True)", "download", "noop()"]


def test_track_rejects_bad_input():
    tl = Timeline()
    with pytest.raises(TypeError, match="needs a function"):
        tl.track(42)

    async def agen():
        yield 1

    with pytest.raises(TypeError, match="generator function agen"):
        tl.track(agen)
    with pytest.raises(TypeError, match="label must be a string"):
        tl.span(3)


def test_clock_argument_is_checked():
    with pytest.raises(ValueError, match="clock must be"):
        Timeline(clock="wall")
    with pytest.raises(TypeError, match="clock must be"):
        Timeline(clock=3)
    tl = Timeline(clock=lambda: "soon")
    with pytest.raises(TypeError, match="must return a number"):
        with tl.span("x"):
            pass
    tl = Timeline(clock="loop")
    with pytest.raises(RuntimeError, match="needs a running event loop"):
        with tl.span("x"):
            pass


def test_loop_clock_uses_the_running_loop_and_real_clock_works_anywhere():
    tl = Timeline(clock="loop")

    async def main():
        async with tl.span("slept"):
            await asyncio.sleep(1.5)

    run_virtual(main)
    assert tl.spans == [Span("slept", 0.0, 1.5)]

    real = Timeline(clock="real")
    with real.span("quick"):
        pass
    assert len(real.spans) == 1
    assert real.spans[0].duration >= 0


def test_clear_and_empty_timeline():
    tl = gather_timeline()
    tl.clear()
    assert tl.spans == []
    assert tl.total == 0.0
    assert tl.text() == "(no spans recorded)"
    assert repr(tl) == "<Timeline: 0 spans, total 0.00 s>"


def test_a_new_virtual_run_replaces_the_old_spans():
    tl = Timeline()
    fetch = make_tracked(tl)
    run_virtual(fetch, 0.5)
    run_virtual(fetch, 0.25)
    assert tl.spans == [Span("fetch_data_async(0.25)", 0.0, 0.25)]


def test_spans_from_to_thread_workers_use_the_same_virtual_clock():
    tl = Timeline()

    def blocking_work():
        with tl.span("in a thread"):
            time.sleep(0.05)

    async def main():
        async with tl.span("main"):
            await asyncio.sleep(1)
            await asyncio.to_thread(blocking_work)

    run_virtual(main)
    labels = [s.label for s in tl.spans]
    assert labels == ["main", "in a thread"]
    assert tl.spans[1].start >= 1.0  # measured on the loop's clock, after the 1 s sleep
    assert tl.spans[1].end <= tl.spans[0].end


def test_add_records_spans_timed_in_other_processes():
    from concurrent.futures import ProcessPoolExecutor

    from asynclab import work

    tl = Timeline()
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(work.timed, [work.count_primes] * 2, [2000, 3000]))
    for i, (_, pid, start, end) in enumerate(results):
        assert pid != os.getpid() and end >= start
        tl.add(f"task {i} in {pid}", start, end)
    assert [r[0] for r in results] == [303, 430]
    assert sorted(s.label for s in tl.spans) == sorted(f"task {i} in {r[1]}"
                                                       for i, r in enumerate(results))
    assert tl.spans[0].start == 0.0 and tl.total > 0
    # the real clock here and in the workers is the same one: a span timed here fits in
    with tl.span("here"):
        pass
    assert tl.spans[-1].label == "here" and tl.spans[-1].start >= max(s.end for s in tl.spans[:2])


def test_add_checks_its_input_and_replaces_spans_of_another_clock():
    tl = Timeline()
    run_virtual(make_tracked(tl), 0.5)  # spans on a virtual clock
    tl.add("measured", 10.0, 10.25)
    assert tl.spans == [Span("measured", 0.0, 0.25)]
    with pytest.raises(ValueError, match="before it starts"):
        tl.add("backwards", 2.0, 1.0)
    with pytest.raises(TypeError, match="number of seconds"):
        tl.add("x", "1", 2.0)
    with pytest.raises(TypeError, match="label"):
        tl.add(3, 1.0, 2.0)
    with pytest.raises(ValueError, match="perf_counter"):
        Timeline(clock="loop").add("x", 1.0, 2.0)


def test_thread_safety_of_recording():
    tl = Timeline(clock="real")

    def work(n):
        for i in range(200):
            with tl.span(f"t{n}-{i}"):
                pass

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tl.spans) == 800


def test_blocking_sleep_shows_up_with_the_real_clock():
    tl = Timeline()  # "auto" on an ordinary event loop: the real clock

    @tl.track
    async def blocking(delay):
        time.sleep(delay)  # holds the loop: nothing else can run meanwhile

    @tl.track
    async def polite(delay):
        await asyncio.sleep(delay)

    async def main():
        await asyncio.gather(blocking(0.1), polite(0.05), polite(0.05))

    asyncio.run(main())
    first, *others = tl.spans
    assert first.label == "blocking(0.1)"
    # the others could not even start before the blocking call gave the loop back
    assert all(span.start >= first.end for span in others)
    assert tl.total >= 0.15


# ------------------------------------------------------------------------------ output


def test_text_rows_bars_and_total():
    tl = gather_timeline()
    rows = tl.text(width=30).splitlines()
    assert rows[0] == "fetch_data_async(0.2) |" + "█" * 20 + " " * 10 + "| 0.00–0.20 s"
    assert rows[1] == "fetch_data_async(0.3) |" + "█" * 30 + "| 0.00–0.30 s"
    assert rows[2] == "fetch_data_async(0.1) |" + "█" * 10 + " " * 20 + "| 0.00–0.10 s"
    assert rows[3] == "total 0.30 s"
    assert str(tl) == tl.text()
    assert repr(tl) == "<Timeline: 3 spans, total 0.30 s>"
    with pytest.raises(ValueError, match="width"):
        tl.text(width=3)
    with pytest.raises(ValueError, match="width"):
        tl.text(width="50")


def test_text_marks_failed_and_instant_spans():
    clock = FakeClock()
    tl = Timeline(clock)
    with tl.span("instant"):
        pass
    with pytest.raises(RuntimeError):
        with tl.span("x" * 40):
            clock.now += 1
            raise RuntimeError
    rows = tl.text(width=10).splitlines()
    assert rows[0].startswith("instant")
    assert "|█         |" in rows[0]  # zero length still gets one cell
    assert rows[1].startswith("x" * 29 + "… |▒▒▒▒▒▒▒▒▒▒|")
    assert rows[1].endswith("(raised RuntimeError)")  # how it ended, by name
    assert rows[2] == "key: █ ran  ▒ raised an exception"


def _texts(ax):
    return [t.get_text() for t in ax.get_yticklabels()]


def test_plot_draws_one_labelled_bar_per_span_and_the_lines():
    tl = gather_timeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = tl.plot(title="gather", ideal=0.3)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == []  # closed: a notebook shows it only once
    (ax,) = fig.axes
    assert _texts(ax) == [s.label for s in tl.spans]
    bars = ax.patches
    assert [round(b.get_width(), 6) for b in bars] == [0.2, 0.3, 0.1]
    assert [b.get_y() + b.get_height() / 2 for b in bars] == [0, 1, 2]
    assert ax.yaxis_inverted()  # first span on top
    assert ax.get_xlabel() == "seconds"
    assert ax.get_title() == "gather"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["total 0.30 s", "ideal 0.30 s"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1


def test_plot_without_ideal_into_given_axes_and_when_empty():
    tl = sequential_timeline()
    fig, ax = plt.subplots()
    try:
        assert tl.plot(ax=ax) is fig
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["total 0.60 s"]
        assert plt.fignum_exists(fig.number)  # your own figure is left to you
    finally:
        plt.close(fig)
    empty = Timeline().plot()
    assert empty.axes[0].texts[0].get_text() == "no spans recorded"


def test_plot_escapes_dollar_signs_and_thins_many_labels():
    clock = FakeClock()
    tl = Timeline(clock)
    for i in range(100):
        with tl.span(f"price(${i})"):
            clock.now += 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = tl.plot()
        fig.canvas.draw()  # math text would fail here
    labels = _texts(fig.axes[0])
    assert 10 < len(labels) <= 40
    assert labels[0] == r"price(\$0)"


def test_plot_rejects_bad_ideal():
    tl = gather_timeline()
    with pytest.raises(TypeError, match="ideal must be a number"):
        tl.plot(ideal="0.3")
    with pytest.raises(ValueError, match="ideal must not be negative"):
        tl.plot(ideal=-1)


def test_repr_png_gives_png_bytes():
    data = gather_timeline()._repr_png_()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert plt.get_fignums() == []


def test_repr_pretty_prints_the_text():
    tl = gather_timeline()

    class Printer:
        def __init__(self):
            self.out = ""

        def text(self, s):
            self.out += s

    printer = Printer()
    tl._repr_pretty_(printer, False)
    assert printer.out == tl.text()


def test_compare_stacks_timelines_on_a_shared_axis():
    seq, gat = sequential_timeline(), gather_timeline()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = compare(seq, gat, titles=["sequential", "gather"], ideal=0.3)
    assert plt.get_fignums() == []
    top, bottom = fig.axes
    assert top.get_title() == "sequential"
    assert bottom.get_title() == "gather"
    assert top.get_shared_x_axes().joined(top, bottom)
    assert top.get_xlim() == bottom.get_xlim()
    assert top.get_xlim()[1] >= 0.6
    assert bottom.get_xlabel() == "seconds"
    assert [t.get_text() for t in bottom.get_legend().get_texts()] == [
        "total 0.30 s",
        "ideal 0.30 s",
    ]
    assert len(compare(seq).axes) == 1


def test_compare_rejects_bad_input():
    with pytest.raises(TypeError, match="at least one Timeline"):
        compare()
    with pytest.raises(TypeError, match="takes Timeline objects"):
        compare(Timeline(), "sequential")
    with pytest.raises(ValueError, match="2 timelines but 1 titles"):
        compare(Timeline(), Timeline(), titles=["a"])


# ------------------------------------------------------------ how spans ended, waiting


def group_timeline() -> Timeline:
    """Notebook 05's TaskGroup: B fails after 0.1 s, A and C are cancelled then."""
    tl = Timeline()

    @tl.track
    async def job(name, seconds, fail=False):
        await asyncio.sleep(seconds)
        if fail:
            raise ValueError(f"{name} failed")

    async def main():
        with pytest.raises(ExceptionGroup):
            async with tl.span("caller"):
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(job("A", 0.3))
                    tg.create_task(job("B", 0.1, fail=True))
                    tg.create_task(job("C", 0.2))

    run_virtual(main)
    return tl


def semaphore_timeline(n=20, limit=5) -> Timeline:
    """Notebook 06's jobs of 0.1 s under a watched Semaphore(limit)."""
    tl = Timeline()

    @tl.track
    async def job(i):
        await asyncio.sleep(0.1)

    async def limited_job(semaphore, i):
        async with semaphore:
            await job(i)

    async def run_jobs():
        semaphore = tl.watch(asyncio.Semaphore(limit))
        await asyncio.gather(*(limited_job(semaphore, i) for i in range(n)))

    run_virtual(run_jobs)
    return tl


def test_cancelled_spans_are_told_apart_from_failed_ones():
    spans = group_timeline().spans
    assert spans == [
        Span("caller", 0.0, 0.1, failed=True),
        Span("job('A', 0.3)", 0.0, 0.1, cancelled=True),
        Span("job('B', 0.1, fail=True)", 0.0, 0.1, failed=True),
        Span("job('C', 0.2)", 0.0, 0.1, cancelled=True),
    ]
    assert [s.error for s in spans] == [
        "ExceptionGroup",
        "CancelledError",
        "ValueError",
        "CancelledError",
    ]


def test_how_a_span_ended_is_recorded_by_with_and_track_alike():
    clock = FakeClock()
    tl = Timeline(clock)

    @tl.track
    def parse():
        raise KeyError("x")

    with pytest.raises(KeyError):
        parse()
    with pytest.raises(asyncio.CancelledError):
        with tl.span("stopped"):
            raise asyncio.CancelledError
    with tl.span("fine"):
        pass

    def closed_early():
        with tl.span("generator"):
            yield 1
            yield 2

    gen = closed_early()
    next(gen)
    gen.close()  # GeneratorExit: the loop over it stopped early, nothing went wrong
    assert [(s.label, s.failed, s.cancelled, s.error) for s in tl.spans] == [
        ("parse()", True, False, "KeyError"),
        ("stopped", False, True, "CancelledError"),
        ("fine", False, False, None),
        ("generator", False, False, None),
    ]


def test_text_shows_raised_and_cancelled_with_a_key():
    rows = group_timeline().text(width=10).splitlines()
    assert rows == [
        "caller                   |▒▒▒▒▒▒▒▒▒▒| 0.00–0.10 s (raised ExceptionGroup)",
        "job('A', 0.3)            |××××××××××| 0.00–0.10 s (cancelled)",
        "job('B', 0.1, fail=True) |▒▒▒▒▒▒▒▒▒▒| 0.00–0.10 s (raised ValueError)",
        "job('C', 0.2)            |××××××××××| 0.00–0.10 s (cancelled)",
        "key: ▒ raised an exception  × cancelled",
        "total 0.10 s",
    ]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _markers(ax):
    """{marker: [(x, y), ...]} of the end markers drawn into ax."""
    return {
        line.get_marker(): list(zip(line.get_xdata(), line.get_ydata(), strict=True))
        for line in ax.get_lines()
        if line.get_linestyle() == "None"
    }


def test_plot_draws_failed_red_and_cancelled_grey_with_end_markers():
    from matplotlib.colors import same_color

    fig = group_timeline().plot()
    (ax,) = fig.axes
    caller, a, b, c = ax.patches
    for bar in (caller, b):
        assert same_color(bar.get_facecolor(), "tab:red")
        assert bar.get_hatch() == "//"
    for bar in (a, c):
        assert same_color(bar.get_facecolor(), "0.82")
        assert bar.get_hatch() == "xx"
    assert _markers(ax) == {"X": [(0.1, 0), (0.1, 2)], "|": [(0.1, 1), (0.1, 3)]}
    assert _legend(ax) == ["raised an exception", "cancelled", "total 0.10 s"]
    fig.canvas.draw()  # the legend's handles (a bar with its marker) can be drawn


def test_watched_semaphore_records_each_wait_before_its_job():
    spans = semaphore_timeline().spans
    assert [s.label for s in spans] == [f"job({i})" for i in range(20)]
    assert [s.waited for s in spans] == [0.0] * 5 + [0.1] * 5 + [0.2] * 5 + [0.3] * 5
    assert [s.began for s in spans] == [0.0] * 20  # all asked at once
    assert [s.start for s in spans[::5]] == [0.0, 0.1, 0.2, 0.3]
    assert all(round(s.duration, 6) == 0.1 and not s.failed for s in spans)
    assert spans[5] == Span("job(5)", 0.1, 0.2, waited=0.1)


def test_text_draws_waiting_before_running():
    rows = semaphore_timeline(n=3, limit=1).text(width=30).splitlines()
    assert rows == [
        "job(0) |" + "█" * 10 + " " * 20 + "| 0.00–0.10 s",
        "job(1) |" + "░" * 10 + "█" * 10 + " " * 10 + "| 0.10–0.20 s (waited 0.10 s)",
        "job(2) |" + "░" * 20 + "█" * 10 + "| 0.20–0.30 s (waited 0.20 s)",
        "key: █ ran  ░ waited",
        "total 0.30 s",
    ]


def test_plot_draws_waiting_light_and_dotted_before_the_bar():
    from matplotlib.colors import same_color, to_rgb

    fig = semaphore_timeline(n=3, limit=1).plot(ideal=0.3)
    (ax,) = fig.axes
    running = [p for p in ax.patches if p.get_hatch() != "..."]
    waiting = [p for p in ax.patches if p.get_hatch() == "..."]
    assert [(p.get_x(), round(p.get_width(), 6), p.get_y() + 0.3) for p in running] == [
        (0.0, 0.1, 0),
        (0.1, 0.1, 1),
        (0.2, 0.1, 2),
    ]
    assert [(p.get_x(), round(p.get_width(), 6), p.get_y() + 0.3) for p in waiting] == [
        (0.0, 0.1, 1),
        (0.0, 0.2, 2),
    ]
    for wait, run in zip(waiting, running[1:], strict=True):
        assert same_color(wait.get_edgecolor(), run.get_facecolor())  # the task's colour ...
        lighter = [w > r for w, r in zip(to_rgb(wait.get_facecolor()), to_rgb("C0"), strict=True)]
        assert lighter.count(True) >= 2  # ... made light
    assert _legend(ax) == ["waiting", "total 0.30 s", "ideal 0.30 s"]


def test_waiting_joins_the_next_span_of_the_same_task_whatever_its_label():
    tl = Timeline()

    async def worker(name, queue):
        while True:
            async with tl.waiting():
                i = await queue.get()
            async with tl.span(f"{name} · job {i}"):
                await asyncio.sleep(0.1)
            queue.task_done()

    async def pool():
        queue = asyncio.Queue()
        for i in range(3):
            queue.put_nowait(i)
        workers = [asyncio.create_task(worker(f"w{k}", queue), name=f"w{k}") for k in (0, 1)]
        await queue.join()
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    run_virtual(pool)
    assert tl.spans == [
        Span("w0 · job 0", 0.0, 0.1),
        Span("w1 · job 1", 0.0, 0.1),
        Span("w0 · job 2", 0.1, 0.2),
        # w1 finds the queue empty at 0.1 and waits until it is cancelled at 0.2
        Span("w1", 0.2, 0.2, cancelled=True, waited=0.1),
        # w0 had just begun waiting when it was cancelled
        Span("w0", 0.2, 0.2, cancelled=True),
    ]


def test_a_wait_with_no_span_after_it_gets_a_row_of_its_own():
    clock = FakeClock()
    tl = Timeline(clock)
    with tl.waiting("lock"):
        clock.now += 0.5
    with tl.span("other thread's work"):  # the same thread: it takes the wait
        clock.now += 0.25
    with tl.waiting("just waited"):
        clock.now += 0.25
    assert tl.spans == [
        Span("other thread's work", 0.5, 0.75, waited=0.5),
        Span("just waited", 1.0, 1.0, waited=0.25),
    ]
    rows = tl.text(width=10).splitlines()
    assert rows[1] == "just waited         |        ░░| 1.00–1.00 s (waited 0.25 s)"
    fig = tl.plot()
    assert [p.get_hatch() for p in fig.axes[0].patches] == [None, "...", "..."]


def test_a_wait_does_not_join_a_span_of_another_task():
    tl = Timeline()

    @tl.track
    async def job():
        await asyncio.sleep(0.1)

    async def main():
        gate = tl.watch(asyncio.Lock())
        async with gate:
            waiter = asyncio.create_task(gate.acquire(), name="waiter")
            await asyncio.sleep(0.2)
        await waiter
        await asyncio.gather(job())  # job runs in a task of its own: no wait to take
        gate.release()

    run_virtual(main)
    assert tl.spans == [Span("waiter", 0.2, 0.2, waited=0.2), Span("job()", 0.2, 0.3)]


def test_watch_times_queue_and_event_waits_only_when_they_wait():
    tl = Timeline()

    async def main():
        queue = tl.watch(asyncio.Queue(maxsize=1), "producer")
        ready = tl.watch(asyncio.Event())
        assert isinstance(queue, asyncio.Queue) and isinstance(ready, asyncio.Event)

        async def consumer():
            await ready.wait()  # waits 0.1 s: drawn
            await queue.get()
            await asyncio.sleep(0.3)
            await queue.get()

        task = asyncio.create_task(consumer(), name="consumer")
        await queue.put(1)  # room: nothing drawn
        await asyncio.sleep(0.1)
        ready.set()
        await queue.put(2)  # full: waits, for no loop time (the consumer takes 1 at once)
        await queue.put(3)  # full: waits 0.3 s
        await task

    run_virtual(main)
    assert tl.spans == [  # a wait of no time, that no span follows, is not shown
        Span("consumer", 0.1, 0.1, waited=0.1),
        Span("producer", 0.4, 0.4, waited=0.3),
    ]


def test_waiting_and_watch_reject_bad_input():
    tl = Timeline()
    with pytest.raises(TypeError, match="Semaphore, BoundedSemaphore, Lock, Queue or Event"):
        tl.watch(asyncio.Condition())
    with pytest.raises(TypeError, match="Semaphore.*got 5"):
        tl.watch(5)
    # a thread's semaphore: named, with what to use instead, and no memory address
    with pytest.raises(TypeError, match=r"threading's, for threads: use asyncio\.Semaphore") as info:
        tl.watch(threading.Semaphore(2))
    assert "0x" not in str(info.value)
    with pytest.raises(TypeError, match="label must be a string"):
        tl.waiting(7)
    with pytest.raises(TypeError, match="label must be a string"):
        tl.watch(asyncio.Lock(), label=7)


def test_watching_again_moves_the_waits_to_the_new_timeline():
    first, second = Timeline(), Timeline()

    async def main():
        semaphore = first.watch(second.watch(asyncio.BoundedSemaphore(1)))
        semaphore = second.watch(semaphore)

        async def hold():
            async with semaphore:
                await asyncio.sleep(0.1)

        await asyncio.gather(hold(), hold())

    run_virtual(main)
    assert first.spans == []
    assert [(s.waited, s.start) for s in second.spans] == [(0.1, 0.1)]


def test_clear_forgets_a_wait_in_progress():
    clock = FakeClock()
    tl = Timeline(clock)
    with tl.waiting():
        clock.now += 1
    tl.clear()
    with tl.span("after"):
        clock.now += 1
    assert tl.spans == [Span("after", 0.0, 1.0)]


def test_waits_in_threads_join_that_thread_s_next_span():
    clock = FakeClock()
    tl = Timeline(clock)
    lock = threading.Lock()

    def work(n):
        with tl.waiting():
            with lock:
                pass
        with tl.span(f"t{n}"):
            pass

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s.label for s in tl.spans) == ["t0", "t1", "t2"]


# ------------------------------------------------------------------- in a real kernel

_KERNEL_CELLS = [
    """\
import asyncio
from asynclab.timeline import Timeline, compare
tl = Timeline()

@tl.track
async def fetch_data_async(delay):
    await asyncio.sleep(delay)

results = await asyncio.gather(fetch_data_async(0.02), fetch_data_async(0.03))
""",
    "tl",
    "tl.plot(title='gather', ideal=0.03)",
    "compare(tl, tl, titles=['a', 'b'])",
    "print(tl.text().splitlines()[-1][:6])",
    # drawing never started pyplot (nor, with it, the inline backend's second rendering)
    "import sys; print('matplotlib.pyplot' in sys.modules)",
    # once pyplot's inline backend has claimed every Figure (it starts with pyplot's first
    # figure), a timeline's chart is still its own PNG, drawn once and not cropped
    "import matplotlib.pyplot as plt\nplt.close(plt.figure())\ntl.plot()",
    "compare(tl, tl)",
]


def test_in_a_real_kernel_each_chart_is_shown_once():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in _KERNEL_CELLS]
    # The kernel must pick Jupyter's own inline backend, as it does for students.
    saved = os.environ.pop("MPLBACKEND", None)
    try:
        NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved
    outputs = [cell.outputs for cell in nb.cells]
    assert outputs[0] == []
    for out in outputs[1:4] + outputs[6:]:  # exactly one picture, no stray text on stderr
        assert len(out) == 1, out
        assert out[0]["output_type"] == "execute_result"
        png = base64.b64decode(out[0]["data"]["image/png"])
        assert struct.unpack(">I", png[16:20]) == (768,)  # 8 in at 96 dpi, not cropped
    assert outputs[4] == [nbformat.v4.new_output("stream", name="stdout", text="total \n")]
    assert outputs[5] == [nbformat.v4.new_output("stream", name="stdout", text="False\n")]


_COLD_FIRST_PLOT = """
import threading

class Impatient(threading.Timer):  # as if building the font cache took over 5 s
    def __init__(self, interval, function, *args, **kwargs):
        super().__init__(0, function, *args, **kwargs)

threading.Timer = Impatient
from asynclab.timeline import Timeline
tl = Timeline(clock=lambda: 0.0)
with tl.span("first"):
    pass
assert tl._repr_png_().startswith(b"\\x89PNG")
"""


def test_the_first_chart_says_nothing_on_stderr_while_fonts_are_found(tmp_path):
    """A new MPLCONFIGDIR (every grading kernel has one) on a busy machine: matplotlib
    would say on stderr that it is building its font cache."""
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path), MPLBACKEND="Agg")
    done = subprocess.run(
        [sys.executable, "-c", _COLD_FIRST_PLOT], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert list(tmp_path.glob("fontlist-*.json"))  # the cache was built, as usual
