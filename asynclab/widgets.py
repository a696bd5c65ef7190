"""Interactive helpers for the notebooks: a concurrency explorer and a progress bar.

:class:`ConcurrencyExplorer` is a small panel with sliders. Choose how many requests to
send to the demo server, how many may be in flight at once (an ``asyncio.Semaphore``), and
how long the server takes to answer each one, then press *Run*. A progress bar follows
the requests, a status line reports the time taken and the most requests that were in
flight together, and a timeline chart shows them as bars::

    from asynclab.widgets import ConcurrencyExplorer
    ConcurrencyExplorer()          # last line of a cell: shows the panel

    explorer = ConcurrencyExplorer(requests=20, limit=5, delay=0.1)
    result = explorer.run()        # the same as pressing Run, but waits for the result
    result.elapsed, result.max_in_flight

:func:`progress` awaits many awaitables at once, like ``asyncio.gather``, with a progress
bar that advances as each one finishes::

    from asynclab.widgets import progress
    pages = await progress([fetch(url) for url in urls], desc="pages")
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import math
import threading
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import ipywidgets as w

from asynclab.testing import InFlight
from asynclab.timeline import Timeline

__all__ = ["ConcurrencyExplorer", "ExplorerResult", "progress"]

_REQUEST_TIMEOUT = 30.0  # seconds before one request is given up on


@dataclass
class ExplorerResult:
    """What one run of the :class:`ConcurrencyExplorer` did.

    ``requests``, ``limit`` and ``delay`` are the settings; ``done`` and ``failed`` count
    the requests that succeeded and failed; ``elapsed`` is the real time the run took;
    ``max_in_flight`` is the most requests that were in flight at the same time;
    ``timeline`` holds one span per request (see :mod:`asynclab.timeline`); ``errors``
    describes failed requests.
    """

    requests: int
    limit: int
    delay: float
    done: int = 0
    failed: int = 0
    elapsed: float = 0.0
    max_in_flight: int = 0
    timeline: Timeline = field(default_factory=lambda: Timeline(clock="real"))
    errors: list[str] = field(default_factory=list)

    @property
    def ideal(self) -> float:
        """The shortest possible time: ``ceil(requests / limit)`` rounds of ``delay``."""
        return math.ceil(self.requests / self.limit) * self.delay

    @property
    def status(self) -> str:
        """The status line, e.g. ``"20/20 done in 0.42 s, max in flight 5"``."""
        text = (
            f"{self.done}/{self.requests} done in {self.elapsed:.2f} s, "
            f"max in flight {self.max_in_flight}"
        )
        if self.failed:
            first = self.errors[0] if len(self.errors[0]) <= 80 else self.errors[0][:79] + "…"
            text += f", {self.failed} failed (first: {first})"
        return text


def _whole(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be at least {low}, got {value}")
    return value


def _delay(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"delay must be a number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"delay must not be negative, got {value}")
    return float(value)


class ConcurrencyExplorer:
    """A panel to try out concurrency limits against the demo server (see the module help).

    ``ConcurrencyExplorer(server=None, requests=20, limit=5, delay=0.1)``: ``server`` is a
    demo server (the shared ``demo_server()`` when ``None``, a ``DemoServer``, anything
    with a ``url(path)`` method) or a base URL such as ``"http://127.0.0.1:8080"``.

    The parts are attributes, so a notebook can read or set them: ``requests_slider``,
    ``limit_slider``, ``delay_slider``, ``button``, ``progress_bar``, ``status``,
    ``output`` (the timeline chart), and ``widget`` (the whole panel).

    Each run happens in a thread of its own with its own event loop, so the panel keeps
    updating while the requests run, and it works the same from a button press and from
    :meth:`run`.
    """

    def __init__(
        self, server: Any = None, requests: int = 20, limit: int = 5, delay: float = 0.1
    ) -> None:
        requests = _whole("requests", requests, 1)
        limit = _whole("limit", limit, 1)
        delay = _delay(delay)
        if server is not None and not isinstance(server, str) and not hasattr(server, "url"):
            raise TypeError(f"server must be a DemoServer or a base URL, got {server!r}")
        self.server = server
        self.requests_slider = w.IntSlider(
            value=requests, min=1, max=max(100, requests), description="requests"
        )
        self.limit_slider = w.IntSlider(value=limit, min=1, max=max(50, limit), description="limit")
        self.delay_slider = w.FloatSlider(
            value=delay,
            min=0.0,
            max=max(2.0, delay),
            step=0.05,
            description="delay",
            readout_format=".2f",
        )
        self.button = w.Button(description="Run", button_style="primary", icon="play")
        self.progress_bar = w.IntProgress(value=0, min=0, max=requests, description="0 done")
        self.status = w.Label(value="Choose the settings and press Run.")
        self.output = w.Output()
        self.widget = w.VBox(
            [
                self.requests_slider,
                self.limit_slider,
                self.delay_slider,
                w.HBox([self.button, self.progress_bar]),
                self.status,
                self.output,
            ]
        )
        self.last_result: ExplorerResult | None = None
        self.last_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.button.on_click(self._on_click)

    # ----------------------------------------------------------------- running

    def run(
        self, requests: int | None = None, limit: int | None = None, delay: float | None = None
    ) -> ExplorerResult:
        """Set any of the sliders, run the requests and wait for the :class:`ExplorerResult`.

        This is exactly what the *Run* button does, except that it waits until the run is
        over (and raises if the run itself fails, e.g. when the server cannot be reached
        at all). A run started with the button is waited for first.
        """
        settings = {
            "requests": None if requests is None else _whole("requests", requests, 1),
            "limit": None if limit is None else _whole("limit", limit, 1),
            "delay": None if delay is None else _delay(delay),
        }
        self.wait()
        self._apply(**settings)
        thread = self._start()
        thread.join()
        if self.last_error is not None:
            raise self.last_error
        assert self.last_result is not None
        return self.last_result

    def wait(self, timeout: float | None = None) -> ExplorerResult | None:
        """Wait for a run started with the button; return its result (``None`` if none).

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"the explorer's run is still going after {timeout} s")
        return self.last_result

    @property
    def running(self) -> bool:
        """True while a run is in progress."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _apply(self, requests: int | None, limit: int | None, delay: float | None) -> None:
        if requests is not None:
            self.requests_slider.max = max(self.requests_slider.max, requests)
            self.requests_slider.value = requests
        if limit is not None:
            self.limit_slider.max = max(self.limit_slider.max, limit)
            self.limit_slider.value = limit
        if delay is not None:
            self.delay_slider.max = max(self.delay_slider.max, delay)
            self.delay_slider.value = delay

    def _on_click(self, _button: Any) -> None:
        if not self.running:
            self._start()

    def _start(self) -> threading.Thread:
        with self._lock:
            if self.running:
                raise RuntimeError("the explorer is already running")
            settings = (
                self.requests_slider.value,
                self.limit_slider.value,
                float(self.delay_slider.value),
            )
            self.button.disabled = True
            self.last_error = None
            thread = threading.Thread(
                target=self._execute, args=settings, name="asynclab-explorer", daemon=True
            )
            self._thread = thread
            thread.start()
            return thread

    def _execute(self, requests: int, limit: int, delay: float) -> None:
        """Body of the run's thread: fresh event loop, requests, then the chart."""
        try:
            self.last_result = asyncio.run(self._run_requests(requests, limit, delay))
            self._show(self.last_result)
        except BaseException as exc:  # shown in the status line instead of stderr
            self.last_error = exc
            self.status.value = f"The run failed: {exc!r}"
        finally:
            self.button.disabled = False

    def _url(self, delay: float) -> str:
        path = f"/delay/{delay:g}"
        server = self.server
        if server is None:
            from asynclab.server import demo_server

            server = demo_server()
        if isinstance(server, str):
            return server.rstrip("/") + path
        return server.url(path)

    async def _run_requests(self, requests: int, limit: int, delay: float) -> ExplorerResult:
        result = ExplorerResult(requests=requests, limit=limit, delay=delay)
        url = self._url(delay)
        semaphore = asyncio.Semaphore(limit)
        probe = InFlight()
        bar = self.progress_bar
        bar.max, bar.value, bar.bar_style, bar.description = requests, 0, "", "0 done"
        self.status.value = f"Sending {requests} requests, at most {limit} at a time…"

        async def one(i: int, session: aiohttp.ClientSession) -> None:
            async with semaphore, probe:
                try:
                    with result.timeline.span(f"GET {i + 1}"):
                        async with session.get(url) as response:
                            await response.read()
                            response.raise_for_status()
                    result.done += 1
                except Exception as exc:  # counted and shown, not raised
                    result.failed += 1
                    result.errors.append(f"request {i + 1}: {type(exc).__name__}: {exc}")
            bar.value += 1
            bar.description = f"{bar.value} done"

        timeout = aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT + delay)
        connector = aiohttp.TCPConnector(limit=0)  # the semaphore is the only limit
        t0 = time.perf_counter()
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            await asyncio.gather(*(one(i, session) for i in range(requests)))
        result.elapsed = time.perf_counter() - t0
        result.max_in_flight = probe.max
        return result

    def _show(self, result: ExplorerResult) -> None:
        self.progress_bar.bar_style = "danger" if result.failed else "success"
        self.status.value = result.status
        title = f"{result.requests} requests, limit {result.limit}, delay {result.delay:g} s"
        fig = result.timeline.plot(title=title, ideal=result.ideal)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        # Setting the outputs directly works from any thread (a `with output:` block does not).
        self.output.outputs = (
            {
                "output_type": "display_data",
                "data": {"image/png": png, "text/plain": result.timeline.text()},
                "metadata": {},
            },
        )

    # ----------------------------------------------------------------- display

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def __repr__(self) -> str:
        return (
            f"<ConcurrencyExplorer requests={self.requests_slider.value} "
            f"limit={self.limit_slider.value} delay={self.delay_slider.value:g}>"
        )


async def progress(aws: Iterable[Awaitable[Any]], desc: str | None = None) -> list[Any]:
    """Await all of ``aws`` concurrently with a progress bar; return results in order.

    Like ``await asyncio.gather(*aws)``: the results come back in the order of ``aws``,
    whatever order they finish in. The bar (a widget in Jupyter, text elsewhere, made
    with ``tqdm``) moves on each time one finishes; ``desc`` labels it. If one of them
    raises, the others are cancelled and the exception is raised here.
    """
    if isinstance(aws, str | bytes) or not isinstance(aws, Iterable):
        raise TypeError(f"progress() needs a list of awaitables, got {aws!r}")
    items = list(aws)
    bad = [i for i, a in enumerate(items) if not inspect.isawaitable(a)]
    if bad:
        for a in items:  # they will never run now: close them without a warning
            if inspect.iscoroutine(a):
                a.close()
        raise TypeError(
            f"progress() needs awaitables (coroutines, tasks, futures); item {bad[0]} is "
            f"{items[bad[0]]!r}: did you forget to call the async function?"
        )
    from tqdm.auto import tqdm

    tasks = [asyncio.ensure_future(a) for a in items]
    with tqdm(total=len(tasks), desc=desc) as bar:
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # raises the first error
                bar.update(len(done))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return [task.result() for task in tasks]
