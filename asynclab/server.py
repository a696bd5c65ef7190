"""A small local HTTP API for the course exercises.

The notebooks need a web server to talk to, but real sites such as httpbin.org are slow,
rate-limited, sometimes offline, and never behave the same way twice. The demo server is a
stand-in on ``127.0.0.1`` that answers at once, late, or not at all, exactly when an
exercise wants it to.

Quick start in a notebook::

    from asynclab import demo_server
    server = demo_server()                    # shared server, started on first use
    url = server.url("/delay/0.5", client="me")
    window = server.reset_stats()             # start measuring now
    # ... fetch ``url`` with aiohttp or urllib ...
    window.stats()["max_in_flight"]           # how many requests overlapped since then?

Where it runs
-------------

``demo_server()`` runs the server in **its own process**, a child of your Python process
(the notebook's kernel), started on first use; it returns a :class:`RemoteDemoServer`, a
handle that does everything over HTTP. The child reads its standard input and ends when
that closes, so it ends with your kernel however the kernel ends. What it costs: the first
``demo_server()`` takes a few tenths of a second (a new Python that imports aiohttp) where
a server on a thread took a few milliseconds, and each ``stats()`` is a local HTTP request
(about a millisecond). What it gains: the server has its own interpreter, so a busy or
blocked notebook does not slow its answers, and nothing the notebook does can rewrite its
counters. ``python bench/server.py`` measures both.

If the environment variable ``ASYNCLAB_DEMO_SERVER`` holds a base URL (such as
``http://127.0.0.1:8765``), ``demo_server()`` starts nothing and returns a handle attached to
the server there (graders start it outside the students' reach); ``stop()`` on that handle
does nothing.

:class:`DemoServer` is the same server on a daemon thread of your own process, with its own
event loop: for tests, benchmarks and custom options. ``RemoteDemoServer(**options)`` takes
the same options and runs them in a process.

From a shell, ``python -m asynclab.server [--host 127.0.0.1] [--port 0] [--seed 0]
[--rate-limit 5] [--max-delay 10] [--site-size 30] [--page-delay 0.02] [--max-windows 100]
[--exit-with-stdin]`` serves in the foreground. When it listens it prints one line,
``asynclab demo server listening on http://127.0.0.1:PORT``; it ends cleanly on SIGTERM or
Ctrl-C, and with ``--exit-with-stdin`` also when its standard input reaches end of file. It
writes nothing to stderr in normal use.

Measurement windows
-------------------

The server counts requests. ``window = server.reset_stats()`` opens a *measurement window*
and ``window.stats()`` returns what the server saw since that window opened. Nothing can
change or erase what a window recorded: another ``reset_stats()``, by you or by any other
client, opens another window and leaves this one as it was. ``server.stats()`` reads the
latest window opened through that handle (or everything since the server started). A test
that judges requests keeps its own window in a local variable::

    window = server.reset_stats()
    await fetch_all_limited(urls, 5)
    expect_max_in_flight(window.stats(), 5, call="fetch_all_limited(urls, 5)")

The server keeps the ``max_windows`` (100) most recent windows; reading an older one raises
:class:`StatsWindowError` (a ``LookupError``) that says so.

Endpoints (all answers are JSON unless noted; errors are ``{"error": "..."}``):

=============================  ===========================================================
``GET /``                      the list of endpoints
``GET /delay/{seconds}``       answer after ``seconds``, echoing the request
``GET /items/{id}``            a small product record, ``id`` in 0..999 (``?delay=``)
``GET /limited``               at most ``rate_limit`` requests in flight per client, else 429
``GET /flaky/{key}``           fails on purpose, deterministically, for retry exercises
``GET /stream``                ``?lines=5&interval=0.05``: plain text sent line by line
``GET /pages/{n}``             HTML page ``n`` of a small site to crawl
``POST /stats/window``         open a measurement window: ``{"window": n, "instance": id}``
``GET /stats``                 the counters since the server started; ``?window=n``: since
                               window ``n`` opened (``&instance=id`` checks it is this server)
``GET /server``                the server's settings and the ``/pages`` link graph
=============================  ===========================================================

Details worth knowing:

- Durations (``/delay/{seconds}``, ``?delay=``, ``?interval=``) must be numbers from 0 to
  ``max_delay``; anything else answers 400 with a message saying what is wrong.
- ``/limited`` knows who you are from the ``X-Client`` header, else the ``?client=``
  parameter, else your address. A request over the limit answers 429 at once, with a
  ``Retry-After: 1`` header.
- ``/flaky/{key}`` numbers the attempts of each key 1, 2, 3, ... With
  ``?fail_first=N&mode=error|drop|slow`` the first N attempts fail: ``error`` answers 500,
  ``drop`` closes the connection without an answer, ``slow`` waits ``?slow=5`` seconds
  (capped at ``max_delay``) before answering. Without ``fail_first``, each attempt fails
  with probability ``?fail_rate=0.3`` in one of those three ways, drawn from the seed, so
  the same seed, key and attempt number always give the same outcome.
  The attempt numbers are how the server behaves, not statistics: they run for the
  server's whole life, and opening a window does not restart them. To start again from
  attempt 1, use a key no one has used: ``window.key("name")`` gives one per window.
  Note: an ``aiohttp.ClientSession`` silently retries a GET once when the connection is
  dropped, so one ``session.get`` can use up two attempts; it only raises
  ``ServerDisconnectedError`` when both are dropped.
- ``/stream`` writes ``line 0``, ``line 1``, ... (``?format=ndjson``: one JSON object per
  line) every ``interval`` seconds, so you can read it while it arrives.
- ``/pages/{n}`` pages link to each other with ``<a href="/pages/m">``; every page can be
  reached from ``/pages/0``, and one link leads to a page that does not exist (404).
- Requests to ``/stats`` and ``/server`` are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import collections
import errno
import functools
import http.client
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
import weakref
from collections.abc import Callable
from typing import Any

from aiohttp import web

__all__ = ["DemoServer", "RemoteDemoServer", "StatsWindow", "StatsWindowError", "demo_server",
           "main"]

ENV_VAR = "ASYNCLAB_DEMO_SERVER"  # a base URL: demo_server() attaches to it
READY = "asynclab demo server listening on "  # + base URL: the one line the command prints
MAX_ITEMS = 1000
MAX_WINDOWS = 100
STREAM_MAX_LINES = 1000
BACKLOG = 2048
START_TIMEOUT = 20.0  # seconds a server process may take to start (a busy machine is slow)
HTTP_TIMEOUT = 10.0  # seconds a handle waits for the server to answer about itself
_SHUTDOWN_GRACE = 0.1  # seconds stop() lets unfinished requests finish (aiohttp waits twice)
_UNCOUNTED_ROUTES = {"stats", "server"}  # requests about the server itself are not counted
_TAGS = ["red", "green", "blue", "small", "large", "sale", "new", "classic", "eco", "gift"]
_WORDS = (
    "async await task loop future coroutine gather queue lock event semaphore timeout "
    "socket request response stream buffer thread callback cancel shield retry"
).split()

ENDPOINTS = {
    "GET /": "this list",
    "GET /delay/{seconds}": "answer after `seconds` (at most max_delay), echoing the request",
    "GET /items/{id}": "a product record, id 0..999; ?delay= to slow it down",
    "GET /limited": "?delay=0.1; at most rate_limit requests in flight per client, "
    "else 429 with Retry-After (client = X-Client header, ?client=, or your address)",
    "GET /flaky/{key}": "fails on purpose: ?fail_first=N&mode=error|drop|slow, "
    "or ?fail_rate=0.3&seed=0 for seeded random failures; attempts are counted per key "
    "for the server's whole life",
    "GET /stream": "?lines=5&interval=0.05&format=text|ndjson: a chunked response, one line "
    "at a time",
    "GET /pages/{n}": "HTML page n of a small site to crawl from page 0 (one link is broken)",
    "POST /stats/window": "open a measurement window: {window, instance} (answers 201)",
    "GET /stats": "request counters (total, per route, in flight, status codes) since the "
    "server started; ?window=n&instance=id: since that window opened",
    "GET /server": "the server's settings and the link graph of /pages",
}


class _HTTPError(Exception):
    """Raised by a handler to answer with a JSON error."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class _Drop(Exception):
    """Raised by a handler after it closed the connection without answering."""


class StatsWindowError(LookupError):
    """A measurement window that cannot be read: dropped, unknown, or of another server.

    ``status`` is the HTTP status the server answers for it (410, 404 or 409).
    """

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error_response(status: int, message: str, headers: Any = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _build_site(size: int, seed: Any) -> dict[int, list[int]]:
    """Page id -> linked page ids; all pages reachable from 0; one link points nowhere."""
    rng = random.Random(f"{seed}:site")
    order = [0] + rng.sample(range(1, size), size - 1)  # a path through every page
    broken_on = rng.randrange(size)
    site: dict[int, list[int]] = {}
    for pos, page in enumerate(order):
        links = [order[pos + 1]] if pos + 1 < size else []
        others = [p for p in range(size) if p != page and p not in links]
        wanted = rng.randint(2, 4) - (page == broken_on)
        links += rng.sample(others, max(0, min(wanted - len(links), len(others))))
        if page == broken_on:
            links.append(size)  # no such page: answers 404
        rng.shuffle(links)
        site[page] = links
    return dict(sorted(site.items()))


def _check_options(
    port: Any, rate_limit: Any, site_size: Any, max_delay: Any, page_delay: Any,
    max_windows: Any,
) -> None:
    """The checks both kinds of server make on their options (ValueError)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in 0..65535 (0 = any free port), got {port!r}")
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, int) or rate_limit < 1:
        raise ValueError(f"rate_limit must be an int >= 1, got {rate_limit!r}")
    if isinstance(site_size, bool) or not isinstance(site_size, int) or site_size < 1:
        raise ValueError(f"site_size must be an int >= 1, got {site_size!r}")
    if not (isinstance(max_delay, int | float) and math.isfinite(max_delay) and max_delay > 0):
        raise ValueError(f"max_delay must be a positive number of seconds, got {max_delay!r}")
    if not (isinstance(page_delay, int | float) and 0 <= page_delay <= max_delay):
        raise ValueError(f"page_delay must be between 0 and max_delay, got {page_delay!r}")
    if isinstance(max_windows, bool) or not isinstance(max_windows, int) or max_windows < 1:
        raise ValueError(f"max_windows must be an int >= 1, got {max_windows!r}")


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _join_url(base_url: str, path: str, query: dict[str, Any]) -> str:
    if not path.startswith("/"):
        path = "/" + path
    url = base_url + path
    if query:
        url += ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
    return url


class _Window:
    """What one measurement window has seen (read and written under the server's lock).

    Totals are differences from the server's running totals when the window opened, so
    counting a request costs the same however many windows are open. Maxima are kept per
    window; see :meth:`DemoServer._count` for why updating them is cheap too.
    """

    __slots__ = ("number", "total0", "per_route0", "status0", "max_all", "max_route", "flaky")

    def __init__(self, number: int, server: DemoServer) -> None:
        self.number = number
        self.total0 = server._total
        self.per_route0 = dict(server._per_route)
        self.status0 = dict(server._status_counts)
        # requests running now stay counted: the maxima start from them (0 when idle)
        self.max_all = server._in_flight
        self.max_route = {k: v for k, v in server._in_flight_per_route.items() if v}
        self.flaky: dict[str, int] = {}


def _since(now: dict[str, int], then: dict[str, int]) -> dict[str, int]:
    return {k: v - then.get(k, 0) for k, v in now.items() if v != then.get(k, 0)}


class StatsWindow:
    """A measurement window of a demo server: ``window.stats()`` reads what it recorded.

    ``server.reset_stats()`` returns one. ``id`` is its number on that server. Reading it
    raises :class:`StatsWindowError` once the server has dropped it (it keeps the
    ``max_windows`` most recent), and ``RuntimeError`` if the server does not answer.
    """

    __slots__ = ("id", "instance", "_read", "_where")

    def __init__(self, window_id: int, instance: str,
                 read: Callable[[int, str], dict[str, Any]], where: str) -> None:
        self.id = window_id
        self.instance = instance
        self._read = read
        self._where = where

    def stats(self) -> dict[str, Any]:
        """The counters since this window opened (the keys of :meth:`DemoServer.stats`)."""
        return self._read(self.id, self.instance)

    def key(self, name: str) -> str:
        """A ``/flaky`` key named after this window, ``"<name>-w<id>"``.

        Window numbers are never reused on a server, so the key's attempts start at 1
        unless someone used that very name before.
        """
        return f"{name}-w{self.id}"

    def __repr__(self) -> str:
        return f"<stats window {self.id} of the demo server {self._where}>"


class DemoServer:
    """The demo server on a daemon thread of this process (``demo_server()`` uses a process).

    ``DemoServer(host="127.0.0.1", port=0, *, rate_limit=5, seed=0, max_delay=10.0,
    site_size=30, page_delay=0.02, max_windows=100)``

    - ``port=0`` picks a free port; read it back from ``server.port`` or ``server.base_url``.
    - ``rate_limit``: requests one client may have in flight on ``/limited``.
    - ``seed``: makes item prices, ``/flaky`` failures and the ``/pages`` site reproducible.
    - ``max_delay``: the longest wait (seconds) any endpoint accepts.
    - ``site_size`` and ``page_delay``: number of pages under ``/pages`` and how long each
      page takes to answer.
    - ``max_windows``: how many measurement windows the server keeps (oldest dropped).

    Use it with ``start()``/``stop()``, or as a context manager (``with`` or ``async with``)::

        with DemoServer() as server:
            urllib.request.urlopen(server.url("/items/1"))

    ``start()`` on a running server returns it unchanged (no second server); ``stop()`` on a
    stopped server does nothing. A stopped server can be started again (with ``port=0`` it
    may get a new port); its statistics and windows are kept. If the server thread ever
    crashes, every later call raises ``RuntimeError("demo server thread crashed: ...")``:
    make a new one.

    ``server.site`` is the link graph of ``/pages``: page id -> the ids it links to. Every
    page can be reached from page 0, and one link goes to a page that does not exist.

    Its counters live in this process, so code running here can change them: graded
    notebooks use ``demo_server()``, whose counters live in another process.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate_limit: int = 5,
        seed: Any = 0,
        max_delay: float = 10.0,
        site_size: int = 30,
        page_delay: float = 0.02,
        max_windows: int = MAX_WINDOWS,
        sock: socket.socket | None = None,
    ) -> None:
        _check_options(port, rate_limit, site_size, max_delay, page_delay, max_windows)
        self._sock = sock  # a socket already listening (given by whoever started us)
        if sock is not None:
            host, port = sock.getsockname()[:2]
        self.host = host
        self.rate_limit = rate_limit
        self.seed = seed
        self.max_delay = float(max_delay)
        self.page_delay = float(page_delay)
        self.max_windows = max_windows
        self.site: dict[int, list[int]] = _build_site(site_size, seed)
        self._requested_port = port
        self._port: int | None = None
        self._lifecycle = threading.Lock()  # serialises start() and stop()
        self._lock = threading.Lock()  # protects the counters and windows below
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_future: asyncio.Future[None] | None = None
        self._crash: BaseException | None = None
        self._limited_in_flight: dict[str, int] = {}  # only touched on the server's loop
        self._attempts: dict[str, int] = {}  # /flaky attempt numbers: behaviour, never reset
        # running totals since the server was made; they only ever grow
        self._total = 0
        self._per_route: dict[str, int] = {}
        self._status_counts: dict[str, int] = {}
        self._in_flight = 0
        self._in_flight_per_route: dict[str, int] = {}
        # measurement windows, oldest first; window 0 is "since the start", never dropped
        self._instance = secrets.token_hex(4)  # tells this server's windows from another's
        self._windows: dict[int, _Window] = {0: _Window(0, self)}
        self._last_window = 0
        self._dropped_upto = 0  # windows 1.._dropped_upto were dropped
        self._latest = 0  # the window stats() reads: the last one reset_stats() opened

    # ----------------------------------------------------------------- lifecycle

    def start(self, timeout: float = 10.0) -> DemoServer:
        """Start serving and return ``self``; blocks until the socket is bound.

        Raises ``OSError`` if the address is taken and ``RuntimeError`` if the server does
        not come up within ``timeout`` seconds. Calling it on a running server does nothing.
        """
        with self._lifecycle:
            self._check_alive()
            if self._thread is not None:
                return self
            self._loop = None
            ready = threading.Event()
            outcome: dict[str, BaseException] = {}
            thread = threading.Thread(
                target=self._run, args=(ready, outcome), name="DemoServer", daemon=True
            )
            thread.start()
            if not ready.wait(timeout):
                self._abort(thread)
                raise RuntimeError(
                    f"demo server on {self.host}:{self._requested_port} did not start "
                    f"within {timeout} s"
                )
            error = outcome.get("startup")
            if isinstance(error, OSError):
                thread.join(timeout)
                message = f"demo server cannot listen on {self.host}:{self._requested_port}"
                if error.errno == errno.EADDRINUSE:
                    message += ": the port is in use; pass port=0 to pick a free port"
                raise OSError(error.errno, f"{message} ({error.strerror or error})") from error
            if error is not None:
                self._crash = error
                self._check_alive()
            self._thread = thread
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and wait for the thread to end. A second call does nothing."""
        with self._lifecycle:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            if thread is threading.current_thread():
                self._thread = thread
                raise RuntimeError("stop() cannot be called from the demo server's own thread")
            loop, stop_future = self._loop, self._stop_future
            if loop is not None and stop_future is not None:
                try:
                    loop.call_soon_threadsafe(_set_result, stop_future)
                except RuntimeError:  # the loop is already closed: the thread has ended
                    pass
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"demo server did not stop within {timeout} s")

    def _abort(self, thread: threading.Thread) -> None:
        """Cancel a start-up that never finished, without waiting long."""
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(_cancel_all_tasks, loop)
            except RuntimeError:
                pass
        thread.join(1.0)

    def _run(self, ready: threading.Event, outcome: dict[str, BaseException]) -> None:
        """Body of the server thread: run the event loop until stop() or a crash."""
        try:
            with asyncio.Runner() as runner:
                self._loop = runner.get_loop()
                runner.run(self._main(ready))
        except BaseException as exc:  # reported to start() or by every later call
            if ready.is_set():
                self._crash = exc
            else:
                outcome["startup"] = exc
        finally:
            ready.set()

    async def _main(self, ready: threading.Event) -> None:
        self._stop_future = asyncio.get_running_loop().create_future()
        self._limited_in_flight = {}
        runner = web.AppRunner(
            self._make_app(),
            access_log=None,  # no log lines: anything on stderr fails an nbgrader cell
            handler_cancellation=True,  # a client that hangs up cancels its handler
            shutdown_timeout=_SHUTDOWN_GRACE,
        )
        await runner.setup()
        try:
            if self._sock is not None:
                site: web.BaseSite = web.SockSite(runner, self._sock)
            else:
                site = web.TCPSite(runner, self.host, self._requested_port, backlog=BACKLOG)
            await site.start()
            self._port = runner.addresses[0][1]
            ready.set()
            await self._stop_future
        finally:
            await runner.cleanup()

    def _check_alive(self) -> None:
        if self._crash is not None:
            raise RuntimeError(f"demo server thread crashed: {self._crash!r}") from self._crash

    @property
    def running(self) -> bool:
        """True while the server is started and its thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._crash is None

    @property
    def port(self) -> int:
        """The TCP port the server listens on (a free one was chosen if you passed 0)."""
        self._check_alive()
        if not self.running or self._port is None:
            raise RuntimeError("demo server is not running; call start() first")
        return self._port

    @property
    def base_url(self) -> str:
        """``"http://HOST:PORT"`` of the running server."""
        return _base_url(self.host, self.port)

    def url(self, path: str = "/", **query: Any) -> str:
        """``base_url + path``, with keyword arguments added as the query string.

        ``server.url("/delay/0.2", client="bob")`` -> ``"http://127.0.0.1:PORT/delay/0.2?client=bob"``
        """
        return _join_url(self.base_url, path, query)

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> DemoServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = "stopped"
        if self._crash is not None:
            state = "crashed"
        elif self.running:
            state = f"running on port {self._port}"
        return f"<DemoServer {self.host} {state}>"

    # ---------------------------------------------------------------- statistics

    def stats(self) -> dict[str, Any]:
        """The counters of the latest window ``reset_stats()`` opened (or since the start).

        Keys: ``total`` (requests received), ``per_route`` (by endpoint name, e.g.
        ``"delay"``), ``in_flight`` (being handled right now), ``max_in_flight`` (the most
        handled at the same time; 1 means your requests never overlapped),
        ``max_in_flight_per_route``, ``status_counts`` (by status code as a string, plus
        ``"dropped"`` for connections closed on purpose by ``/flaky`` and ``"cancelled"`` for
        requests the client gave up on) and ``flaky_attempts`` (attempts per ``/flaky`` key).
        Requests to ``/stats`` and ``/server`` are not counted. Safe from any thread.
        """
        self._check_alive()
        return self._window_stats(self._latest)

    def reset_stats(self) -> StatsWindow:
        """Open a measurement window; ``stats()`` reads it from now on, and so does the
        :class:`StatsWindow` returned, whatever anyone opens later.

        Requests still running stay counted in ``in_flight``, so ``max_in_flight`` starts
        from the number running now (0 when the server is idle). The ``/flaky`` attempt
        numbers go on: use a new key (``window.key("name")``) to start from attempt 1.
        """
        self._check_alive()
        number = self._open_window()
        self._latest = number
        return StatsWindow(number, self._instance, self._window_stats, "in this process")

    def _open_window(self) -> int:
        with self._lock:
            self._last_window += 1
            number = self._last_window
            self._windows[number] = _Window(number, self)
            while len(self._windows) > self.max_windows + 1:
                oldest = next(n for n in self._windows if n)  # the one after window 0
                del self._windows[oldest]
                self._dropped_upto = oldest
            return number

    def _window_stats(self, number: int, instance: str | None = None) -> dict[str, Any]:
        """The counters of window ``number`` (StatsWindowError if it cannot be read)."""
        if instance is not None and instance != self._instance:
            raise StatsWindowError(
                409, f"stats window {number} was opened on another demo server than this one "
                "(was the server restarted?): open a new window")
        with self._lock:
            window = self._windows.get(number)
            if window is None:
                if 0 < number <= self._dropped_upto:
                    raise StatsWindowError(
                        410, f"stats window {number} was dropped: the demo server keeps the "
                        f"{self.max_windows} most recent windows, and more were opened since; "
                        "open a window just before you measure")
                raise StatsWindowError(404, f"this demo server never opened stats window "
                                            f"{number}")
            return {
                "total": self._total - window.total0,
                "per_route": _since(self._per_route, window.per_route0),
                "in_flight": self._in_flight,
                "max_in_flight": window.max_all,
                "max_in_flight_per_route": dict(window.max_route),
                "status_counts": _since(self._status_counts, window.status0),
                "flaky_attempts": dict(window.flaky),
            }

    def _settings(self) -> dict[str, Any]:
        """What ``GET /server`` answers."""
        seed = self.seed if isinstance(self.seed, int | float | str | None) else str(self.seed)
        return {
            "name": "asynclab demo server",
            "instance": self._instance,
            "rate_limit": self.rate_limit,
            "seed": seed,
            "max_delay": self.max_delay,
            "page_delay": self.page_delay,
            "site_size": len(self.site),
            "max_windows": self.max_windows,
            "site": {str(page): links for page, links in self.site.items()},
        }

    def _started(self, route: str) -> None:
        """Count a request that starts (under the lock)."""
        self._total += 1
        self._per_route[route] = self._per_route.get(route, 0) + 1
        self._in_flight += 1
        now = self._in_flight_per_route.get(route, 0) + 1
        self._in_flight_per_route[route] = now
        # A window's maximum covers the time since it opened, so an older window's maximum
        # is never below a newer one's: walking from the newest, the first window already
        # at the new level ends the walk. Counting stays cheap with many windows open.
        for window in reversed(self._windows.values()):
            if window.max_all >= self._in_flight:
                break
            window.max_all = self._in_flight
        for window in reversed(self._windows.values()):
            if window.max_route.get(route, 0) >= now:
                break
            window.max_route[route] = now

    @web.middleware
    async def _count(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Count every request, turn every error into JSON, keep stderr silent."""
        resource = request.match_info.route.resource
        route = "other"
        if resource is not None:
            route = resource.canonical.strip("/").split("/")[0] or "index"
        counted = route not in _UNCOUNTED_ROUTES
        if counted:
            with self._lock:
                self._started(route)
        outcome = "500"
        try:
            try:
                response = await handler(request)
            except _HTTPError as exc:
                response = _error_response(exc.status, exc.message, exc.headers)
            except web.HTTPException as exc:  # raised by the router: 404, 405
                message = f"{exc.reason}: {request.method} {request.path}; GET / lists endpoints"
                allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
                response = _error_response(exc.status, message, allow)
            outcome = str(response.status)
            return response
        except (_Drop, ConnectionError):
            outcome = "dropped"
            # The transport is closed: aiohttp fails to write this quietly and moves on.
            return web.Response(status=500)
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except Exception as exc:  # a bug in a handler: answer 500 instead of logging
            return _error_response(500, f"internal server error: {exc!r}")
        finally:
            if counted:
                with self._lock:
                    self._in_flight -= 1
                    self._in_flight_per_route[route] -= 1
                    self._status_counts[outcome] = self._status_counts.get(outcome, 0) + 1

    # ------------------------------------------------------------------ handlers

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._count])
        app.router.add_get("/", self._index)
        app.router.add_get("/delay/{seconds}", self._delay)
        app.router.add_get("/items/{id}", self._item)
        app.router.add_get("/limited", self._limited)
        app.router.add_get("/flaky/{key}", self._flaky)
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/pages", self._page)
        app.router.add_get("/pages/", self._page)
        app.router.add_get("/pages/{n}", self._page)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/stats/window", self._stats_window)
        app.router.add_get("/server", self._server)
        return app

    def _seconds(self, raw: str, name: str, *, clamp: bool = False) -> float:
        """Parse and check a duration taken from the URL (``clamp``: cap it at max_delay)."""
        try:
            value = float(raw)
        except ValueError:
            raise _HTTPError(400, f"{name} must be a number of seconds, got {raw!r}") from None
        if not math.isfinite(value):
            raise _HTTPError(400, f"{name} must be a finite number of seconds, got {raw!r}")
        if value < 0:
            raise _HTTPError(400, f"{name} must not be negative, got {raw!r}")
        if value > self.max_delay and clamp:
            return self.max_delay
        if value > self.max_delay:
            raise _HTTPError(
                400, f"{name} must be at most max_delay={self.max_delay:g} seconds, got {raw!r}"
            )
        return value

    @staticmethod
    def _int(raw: str, name: str, low: int, high: int) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise _HTTPError(400, f"{name} must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise _HTTPError(400, f"{name} must be between {low} and {high}, got {value}")
        return value

    @staticmethod
    def _client_id(request: web.Request) -> str:
        return request.headers.get("X-Client") or request.query.get("client") or str(request.remote)

    async def _index(self, request: web.Request) -> web.Response:
        return web.json_response({"name": "asynclab demo server", "endpoints": ENDPOINTS})

    async def _delay(self, request: web.Request) -> web.Response:
        seconds = self._seconds(request.match_info["seconds"], "delay")
        await asyncio.sleep(seconds)
        return web.json_response(
            {
                "delay": seconds,
                "method": request.method,
                "path": request.path,
                "args": dict(request.query),
                "headers": dict(request.headers),
                "client": self._client_id(request),
            }
        )

    def _item_record(self, item_id: int) -> dict[str, Any]:
        rng = random.Random(f"{self.seed}:item:{item_id}")
        return {
            "id": item_id,
            "name": f"Item {item_id}",
            "price": round(rng.uniform(1, 100), 2),
            "tags": rng.sample(_TAGS, rng.randint(1, 3)),
        }

    async def _item(self, request: web.Request) -> web.Response:
        raw = request.match_info["id"]
        try:
            item_id = int(raw)
        except ValueError:
            raise _HTTPError(400, f"item id must be an integer, got {raw!r}") from None
        delay = self._seconds(request.query.get("delay", "0"), "delay")
        if not 0 <= item_id < MAX_ITEMS:
            raise _HTTPError(404, f"no item {item_id}: ids go from 0 to {MAX_ITEMS - 1}")
        await asyncio.sleep(delay)
        return web.json_response(self._item_record(item_id))

    async def _limited(self, request: web.Request) -> web.Response:
        delay = self._seconds(request.query.get("delay", "0.1"), "delay")
        client = self._client_id(request)
        running = self._limited_in_flight.get(client, 0)
        if running >= self.rate_limit:
            raise _HTTPError(
                429,
                f"too many requests: the limit is {self.rate_limit} requests in flight per "
                f"client and {client!r} already has {running}; retry after 1 second",
                {"Retry-After": "1"},
            )
        self._limited_in_flight[client] = running + 1
        try:
            await asyncio.sleep(delay)
        finally:
            self._limited_in_flight[client] -= 1
            if not self._limited_in_flight[client]:
                del self._limited_in_flight[client]
        return web.json_response(
            {"client": client, "limit": self.rate_limit, "in_flight": running + 1, "delay": delay}
        )

    def _attempt(self, key: str) -> int:
        """Number the next attempt of a /flaky key, and count it in every window."""
        with self._lock:
            attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
            for window in self._windows.values():
                window.flaky[key] = window.flaky.get(key, 0) + 1
        return attempt

    async def _flaky(self, request: web.Request) -> web.Response:
        key, query = request.match_info["key"], request.query
        slow = self._seconds(query.get("slow", "5"), "slow", clamp=True)
        if "fail_first" in query:
            fail_first = self._int(query["fail_first"], "fail_first", 0, 1_000_000)
            mode = query.get("mode", "error")
            if mode not in ("error", "drop", "slow"):
                raise _HTTPError(400, f"mode must be error, drop or slow, got {mode!r}")
            attempt = self._attempt(key)
            outcome = mode if attempt <= fail_first else "ok"
        else:
            raw_rate = query.get("fail_rate", "0.3")
            try:
                fail_rate = float(raw_rate)
            except ValueError:
                fail_rate = math.nan
            if not 0 <= fail_rate <= 1:  # also rejects NaN
                raise _HTTPError(400, f"fail_rate must be between 0 and 1, got {raw_rate!r}")
            attempt = self._attempt(key)
            rng = random.Random(f"{query.get('seed', self.seed)}:{key}:{attempt}")
            outcome = "ok"
            if rng.random() < fail_rate:
                outcome = rng.choice(["error", "drop", "slow"])

        if outcome == "error":
            raise _HTTPError(500, f"simulated failure of {key!r} on attempt {attempt}")
        if outcome == "drop":  # close the connection without answering
            if request.transport is not None:
                request.transport.close()
            raise _Drop
        body: dict[str, Any] = {"key": key, "attempt": attempt, "ok": True}
        if outcome == "slow":
            await asyncio.sleep(slow)
            body["slow"] = slow
        return web.json_response(body)

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        lines = self._int(request.query.get("lines", "5"), "lines", 1, STREAM_MAX_LINES)
        interval = self._seconds(request.query.get("interval", "0.05"), "interval")
        fmt = request.query.get("format", "text")
        if fmt not in ("text", "ndjson"):
            raise _HTTPError(400, f"format must be text or ndjson, got {fmt!r}")
        response = web.StreamResponse(
            headers={"Content-Type": "application/x-ndjson" if fmt == "ndjson" else "text/plain"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(lines):
            if i:
                await asyncio.sleep(interval)
            text = f"line {i}"
            out = json.dumps({"line": i, "text": text}) if fmt == "ndjson" else text
            await response.write(out.encode() + b"\n")
        await response.write_eof()
        return response

    def _page_html(self, n: int) -> str:
        rng = random.Random(f"{self.seed}:text:{n}")
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(12, 30)))
        links = "\n".join(f'<li><a href="/pages/{m}">Page {m}</a></li>' for m in self.site[n])
        return (
            f"<!doctype html>\n<html><head><title>Page {n}</title></head>\n<body>\n"
            f"<h1>Page {n}</h1>\n<p>{text.capitalize()}.</p>\n<ul>\n{links}\n</ul>\n"
            "</body></html>\n"
        )

    async def _page(self, request: web.Request) -> web.Response:
        raw = request.match_info.get("n", "0")
        try:
            n = int(raw)
        except ValueError:
            raise _HTTPError(400, f"page number must be an integer, got {raw!r}") from None
        await asyncio.sleep(self.page_delay)
        if n not in self.site:
            raise _HTTPError(404, f"no page {n}: this site has pages 0 to {len(self.site) - 1}")
        return web.Response(text=self._page_html(n), content_type="text/html")

    async def _stats(self, request: web.Request) -> web.Response:
        query = request.query
        number = self._int(query.get("window", "0"), "window", 0, 2**62)
        try:
            return web.json_response(self._window_stats(number, query.get("instance")))
        except StatsWindowError as exc:
            raise _HTTPError(exc.status, str(exc)) from None

    async def _stats_window(self, request: web.Request) -> web.Response:
        number = self._open_window()
        return web.json_response({"window": number, "instance": self._instance}, status=201)

    async def _server(self, request: web.Request) -> web.Response:
        return web.json_response(self._settings())


def _set_result(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


# ------------------------------------------------------------------ the server in a process


def _call(base_url: str, method: str, path: str, timeout: float = HTTP_TIMEOUT) -> Any:
    """One request to a demo server's own endpoints -> the decoded JSON answer.

    RuntimeError if it does not answer or answers something else than the demo server
    would; StatsWindowError for a window it cannot read.
    """
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        status, body = response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise RuntimeError(
            f"the demo server at {base_url} does not answer ({type(exc).__name__}: {exc}); "
            "is it running?") from None
    finally:
        connection.close()
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RuntimeError(
            f"{base_url} answered {method} {path} with status {status} and no JSON object: "
            "is something else than the demo server listening there?")
    if status >= 400:
        message = str(data.get("error", data))
        if path.startswith("/stats?") and status in (404, 409, 410):
            raise StatsWindowError(status, message)
        raise RuntimeError(f"the demo server at {base_url} answered {status}: {message}")
    return data


def _read_window(base_url: str, number: int, instance: str) -> dict[str, Any]:
    query = urllib.parse.urlencode({"window": number, "instance": instance})
    return _call(base_url, "GET", f"/stats?{query}")


class _ChildOutput:
    """Reads a server process's stdout (for its ready line) and stderr, keeping the tail,
    so the process never blocks on a full pipe and a failure can say what it printed."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.url: str | None = None
        self.settled = threading.Event()  # the ready line came, or stdout closed
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self.threads = [
            threading.Thread(target=self._read, args=(process.stdout, True), daemon=True,
                             name="demo-server-stdout"),
            threading.Thread(target=self._read, args=(process.stderr, False), daemon=True,
                             name="demo-server-stderr"),
        ]
        for thread in self.threads:
            thread.start()

    def _read(self, stream: Any, is_stdout: bool) -> None:
        try:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip()
                if is_stdout and self.url is None and line.startswith(READY):
                    self.url = line[len(READY):].strip()
                    self.settled.set()
                elif line:
                    self.tail.append(line)
        except (OSError, ValueError):  # the pipe was closed under us
            pass
        finally:
            if is_stdout:
                self.settled.set()
            stream.close()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def said(self) -> str:
        return "; it said: " + " | ".join(self.tail) if self.tail else ""


def _end_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Close its stdin, ask it to stop (SIGTERM), kill it if it does not, and reap it."""
    try:
        process.stdin.close()  # type: ignore[union-attr]
    except OSError:
        pass
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _address(base_url: Any) -> str:
    """``base_url`` as ``http://HOST:PORT`` (RuntimeError if it is not such a URL)."""
    parts = urllib.parse.urlsplit(str(base_url).strip())
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise RuntimeError(f"a demo server's address is a base URL such as "
                           f"http://127.0.0.1:8765, got {base_url!r}")
    return _base_url(parts.hostname, port)


_SERVER_FILE = os.path.abspath(__file__)
_owned: weakref.WeakSet[RemoteDemoServer] = weakref.WeakSet()  # stopped at exit


class RemoteDemoServer:
    """A demo server in another process, driven over HTTP: what ``demo_server()`` returns.

    ``RemoteDemoServer(**options).start()`` runs ``python -m asynclab.server`` with the
    options of :class:`DemoServer` as a child of this process (a new session, so an
    interrupt of this process does not reach it; standard input held, so it ends when this
    process ends). ``RemoteDemoServer.attach(base_url)`` drives a server started elsewhere:
    ``start()`` then only checks that it answers and ``stop()`` does nothing.

    It offers what the notebooks use of a :class:`DemoServer`: ``url()``, ``base_url``,
    ``host``, ``port``, ``site``, ``rate_limit`` (and the other settings), ``stats()``,
    ``reset_stats()``, ``running``, ``start()``, ``stop()``, ``with`` and ``async with``.
    The settings and ``site`` are read from the server (``GET /server``) and kept.
    ``start()`` on a server whose process ended starts a new process (with ``port=0``,
    perhaps on a new port); windows of the old process can no longer be read.
    """

    __slots__ = ("_options", "_attached", "_base_url", "_process", "_output", "_info",
                 "_latest", "_lifecycle", "_parent", "__weakref__")

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate_limit: int = 5,
        seed: Any = 0,
        max_delay: float = 10.0,
        site_size: int = 30,
        page_delay: float = 0.02,
        max_windows: int = MAX_WINDOWS,
    ) -> None:
        _check_options(port, rate_limit, site_size, max_delay, page_delay, max_windows)
        self._options = [
            f"--host={host}", f"--port={port}", f"--rate-limit={rate_limit}", f"--seed={seed}",
            f"--max-delay={float(max_delay)!r}", f"--site-size={site_size}",
            f"--page-delay={float(page_delay)!r}", f"--max-windows={max_windows}",
        ]
        self._attached: str | None = None
        self._base_url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._output: _ChildOutput | None = None
        self._info: tuple[str, dict[str, Any]] | None = None  # (base URL, GET /server)
        self._latest: StatsWindow | None = None
        self._lifecycle = threading.Lock()
        self._parent = os.getpid()

    @classmethod
    def attach(cls, base_url: str) -> RemoteDemoServer:
        """A handle on the demo server at ``base_url`` (``"http://127.0.0.1:8765"``).

        RuntimeError if it does not answer as a demo server does.
        """
        handle = cls()
        handle._attached = handle._base_url = _address(base_url)
        return handle.start()

    # ----------------------------------------------------------------- lifecycle

    def start(self, timeout: float = START_TIMEOUT) -> RemoteDemoServer:
        """Start the server process (or check that an attached server answers); ``self``.

        Does nothing if the process is running. RuntimeError if it does not start within
        ``timeout`` seconds, or exits (the message has what it printed, e.g. a port in use).
        """
        with self._lifecycle:
            if self._attached is not None:
                try:
                    self._fetch_settings()
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc} (it is the demo server named by {ENV_VAR} or "
                                       "attach())") from None
                return self
            if self._process is not None and self._process.poll() is None:
                return self
            self._forget_process(timeout=1.0)
            command = [sys.executable, "-P", _SERVER_FILE, *self._options, "--exit-with-stdin"]
            try:
                process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True,
                )
            except OSError as exc:  # e.g. no more processes allowed
                raise RuntimeError(f"cannot start the demo server process: {exc}") from None
            output = _ChildOutput(process)
            if output.settled.wait(timeout) and output.url is None:
                try:  # its stdout closed: it is exiting
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
            if output.url is None:
                code = process.poll()
                _end_process(process, 2.0)
                output.join(2.0)
                why = (f"did not start within {timeout} s" if code is None
                       else f"exited with code {code}")
                raise RuntimeError(f"the demo server process {why}{output.said()}")
            self._process, self._output, self._base_url = process, output, output.url
            _owned.add(self)
            return self

    def stop(self, timeout: float = 10.0) -> None:
        """End the server process and wait for it. Does nothing if it is not running, or
        if this handle is attached to a server started elsewhere."""
        with self._lifecycle:
            if self._attached is None:
                self._forget_process(timeout)

    def _forget_process(self, timeout: float) -> None:
        process, output = self._process, self._output
        self._process = self._output = self._base_url = self._latest = None
        if process is not None:
            _end_process(process, timeout)
        if output is not None:
            output.join(1.0)

    @property
    def running(self) -> bool:
        """Whether the server process is alive (attached: whether the server answers)."""
        if self._attached is not None:
            try:
                self._fetch_settings(timeout=2.0)
            except RuntimeError:
                return False
            return True
        process = self._process
        return process is not None and process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process's id, while this handle has one (None when attached)."""
        process = self._process
        return None if process is None else process.pid

    @property
    def base_url(self) -> str:
        """``"http://HOST:PORT"`` of the running server."""
        if self._attached is not None:
            return self._attached
        process, url = self._process, self._base_url
        if process is None or url is None:
            raise RuntimeError("demo server is not running; call start() (or demo_server()) "
                               "first")
        if process.poll() is not None:
            said = self._output.said() if self._output is not None else ""
            raise RuntimeError(
                f"the demo server process has ended (exit code {process.returncode}){said}; "
                "call demo_server() (or start()) to start a new one")
        return url

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.base_url).hostname or ""

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        port = urllib.parse.urlsplit(self.base_url).port
        assert port is not None
        return port

    def url(self, path: str = "/", **query: Any) -> str:
        """``base_url + path``, with keyword arguments added as the query string.

        ``server.url("/delay/0.2", client="bob")`` -> ``"http://127.0.0.1:PORT/delay/0.2?client=bob"``
        """
        return _join_url(self.base_url, path, query)

    def __enter__(self) -> RemoteDemoServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> RemoteDemoServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        if self._attached is not None:
            return f"<demo server at {self._attached} (started elsewhere)>"
        process = self._process
        if process is None:
            return "<demo server process: stopped>"
        if process.poll() is not None:
            return f"<demo server process: ended with exit code {process.returncode}>"
        return f"<demo server process {process.pid} on {self._base_url}>"

    # ------------------------------------------------------------------ settings

    def _fetch_settings(self, timeout: float = HTTP_TIMEOUT) -> dict[str, Any]:
        base = self.base_url
        data = _call(base, "GET", "/server", timeout)
        if data.get("name") != "asynclab demo server" or not isinstance(data.get("site"), dict):
            raise RuntimeError(f"{base} answered GET /server, but not as an asynclab demo "
                               "server does: is something else listening there?")
        data["site"] = {int(page): list(links) for page, links in data["site"].items()}
        self._info = (base, data)
        return data

    def _settings(self) -> dict[str, Any]:
        info = self._info
        if info is None or info[0] != self.base_url:
            return self._fetch_settings()
        return info[1]

    @property
    def site(self) -> dict[int, list[int]]:
        """The link graph of ``/pages``: page id -> the ids it links to (a copy)."""
        return {page: list(links) for page, links in self._settings()["site"].items()}

    @property
    def rate_limit(self) -> int:
        """Requests one client may have in flight on ``/limited``."""
        return self._settings()["rate_limit"]

    @property
    def seed(self) -> Any:
        return self._settings()["seed"]

    @property
    def max_delay(self) -> float:
        return self._settings()["max_delay"]

    @property
    def page_delay(self) -> float:
        return self._settings()["page_delay"]

    @property
    def max_windows(self) -> int:
        return self._settings()["max_windows"]

    # ---------------------------------------------------------------- statistics

    def stats(self) -> dict[str, Any]:
        """The counters of the latest window ``reset_stats()`` opened through this handle,
        or since the server started (see :meth:`DemoServer.stats` for the keys)."""
        latest = self._latest
        if latest is not None:
            return latest.stats()
        return _call(self.base_url, "GET", "/stats")

    def reset_stats(self) -> StatsWindow:
        """Open a measurement window on the server and return it; ``stats()`` reads it
        from now on (see :meth:`DemoServer.reset_stats`)."""
        base = self.base_url
        answer = _call(base, "POST", "/stats/window")
        window = StatsWindow(answer["window"], answer["instance"],
                             functools.partial(_read_window, base), f"at {base}")
        self._latest = window
        return window


@atexit.register
def _stop_owned() -> None:
    for handle in list(_owned):
        if handle._parent == os.getpid():  # not in a forked child
            try:
                handle.stop(timeout=2.0)
            except Exception:  # noqa: BLE001 - exiting anyway; the child ends with its stdin
                pass


_shared: RemoteDemoServer | None = None
_shared_lock = threading.Lock()


def demo_server() -> RemoteDemoServer:
    """The shared demo server, in its own process, started on first use.

    Every call returns the same handle, and starts the server again if its process ended
    (stopped, or crashed), so notebooks can simply write ``server = demo_server()``. With
    the environment variable ``ASYNCLAB_DEMO_SERVER`` set to a base URL, the handle is
    attached to the server there instead (RuntimeError if it does not answer).
    """
    global _shared
    with _shared_lock:
        where = os.environ.get(ENV_VAR, "").strip()
        if where:
            try:
                where = _address(where)
            except RuntimeError as exc:
                raise RuntimeError(f"{ENV_VAR}: {exc}") from None
            if _shared is None or _shared._attached != where:
                if _shared is not None:
                    _shared.stop()
                _shared = RemoteDemoServer.attach(where)
                return _shared
        elif _shared is None or _shared._attached is not None:
            _shared = RemoteDemoServer()
        return _shared.start()


# --------------------------------------------------------------------- command line


def _seed(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        return text


def _wait_for_eof(stop: threading.Event) -> None:
    try:
        fd = sys.stdin.fileno()
        while os.read(fd, 65536):
            pass
    except (OSError, ValueError, AttributeError):  # no usable stdin: that is an end too
        pass
    stop.set()


def main(argv: list[str] | None = None) -> int:
    """``python -m asynclab.server``: serve in the foreground until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m asynclab.server",
        description="Serve the asyncio course's demo web API in the foreground. Once it "
        f"listens it prints one line, '{READY}http://HOST:PORT'.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--seed", default="0", help="makes prices, failures and /pages "
                        "reproducible")
    parser.add_argument("--rate-limit", type=int, default=5,
                        help="requests in flight per client on /limited")
    parser.add_argument("--max-delay", type=float, default=10.0,
                        help="longest wait any endpoint accepts, in seconds")
    parser.add_argument("--site-size", type=int, default=30, help="pages under /pages")
    parser.add_argument("--page-delay", type=float, default=0.02,
                        help="seconds each page takes to answer")
    parser.add_argument("--max-windows", type=int, default=MAX_WINDOWS,
                        help="measurement windows kept (the oldest are dropped)")
    parser.add_argument("--fd", type=int, default=None,
                        help="serve on this listening socket, inherited from whoever started "
                        "the server (instead of --host and --port): the course's grader "
                        "listens before any student code runs, so no one can take the port")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="also end when standard input reaches end of file (a server "
                        "started by a program ends with that program)")
    args = parser.parse_args(argv)
    try:
        sock = None if args.fd is None else socket.socket(fileno=args.fd)
        server = DemoServer(
            args.host, args.port, rate_limit=args.rate_limit, seed=_seed(args.seed),
            max_delay=args.max_delay, site_size=args.site_size, page_delay=args.page_delay,
            max_windows=args.max_windows, sock=sock)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        print(f"asynclab demo server: {exc}", file=sys.stderr)
        return 1
    try:
        if args.exit_with_stdin:
            threading.Thread(target=_wait_for_eof, args=(stop,), daemon=True,
                             name="stdin-watch").start()
        try:
            print(READY + server.base_url, flush=True)
        except (BrokenPipeError, ValueError):  # whoever started it is gone already
            stop.set()
            devnull = os.open(os.devnull, os.O_WRONLY)  # so that exiting prints no error
            os.dup2(devnull, sys.stdout.fileno())
        while not stop.wait(1.0):  # a timeout, so that Ctrl-C works everywhere
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
