"""A small local HTTP API for the course exercises.

The notebooks need a web server to talk to, but real sites such as httpbin.org are slow,
rate-limited, sometimes offline, and never behave the same way twice. ``DemoServer`` is a
stand-in that runs inside your own Python process, on ``127.0.0.1``, and answers at once,
late, or not at all, exactly when an exercise wants it to.

Quick start in a notebook::

    from asynclab.server import demo_server
    server = demo_server()                    # shared server, started on first use
    url = server.url("/delay/0.5", client="me")
    # ... fetch ``url`` with aiohttp or urllib ...
    server.stats()["max_in_flight"]           # how many requests overlapped?

The server runs an ``aiohttp.web`` application on its own daemon thread with its own event
loop, so it keeps answering while a cell blocks (``time.sleep``) and it serves synchronous
clients (``urllib``) as well as asynchronous ones. It never writes to stderr in normal use.

Endpoints (all answers are JSON unless noted; errors are ``{"error": "..."}``):

=============================  ===========================================================
``GET /``                      the list of endpoints
``GET /delay/{seconds}``       answer after ``seconds``, echoing the request
``GET /items/{id}``            a small product record, ``id`` in 0..999 (``?delay=``)
``GET /limited``               at most ``rate_limit`` requests in flight per client, else 429
``GET /flaky/{key}``           fails on purpose, deterministically, for retry exercises
``GET /stream``                ``?lines=5&interval=0.05``: plain text sent line by line
``GET /pages/{n}``             HTML page ``n`` of a small site to crawl
``GET /stats``                 the counters of :meth:`DemoServer.stats`
``POST /stats/reset``          reset those counters
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
  ``reset_stats()`` starts the attempt numbers again.
  Note: an ``aiohttp.ClientSession`` silently retries a GET once when the connection is
  dropped, so one ``session.get`` can use up two attempts; it only raises
  ``ServerDisconnectedError`` when both are dropped.
- ``/stream`` writes ``line 0``, ``line 1``, ... (``?format=ndjson``: one JSON object per
  line) every ``interval`` seconds, so you can read it while it arrives.
- ``/pages/{n}`` pages link to each other with ``<a href="/pages/m">``; every page can be
  reached from ``/pages/0``, and one link leads to a page that does not exist (404).
"""

from __future__ import annotations

import asyncio
import errno
import json
import math
import random
import threading
import urllib.parse
from typing import Any

from aiohttp import web

__all__ = ["DemoServer", "demo_server"]

MAX_ITEMS = 1000
STREAM_MAX_LINES = 1000
BACKLOG = 2048
_SHUTDOWN_GRACE = 0.1  # seconds stop() lets unfinished requests finish (aiohttp waits twice)
_UNCOUNTED_ROUTES = {"stats"}  # the /stats endpoints are not counted in the statistics
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
    "or ?fail_rate=0.3&seed=0 for seeded random failures; attempts are counted per key",
    "GET /stream": "?lines=5&interval=0.05&format=text|ndjson: a chunked response, one line "
    "at a time",
    "GET /pages/{n}": "HTML page n of a small site to crawl from page 0 (one link is broken)",
    "GET /stats": "request counters: total, per route, in flight, status codes",
    "POST /stats/reset": "reset the counters (answers 204)",
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


class DemoServer:
    """A local HTTP API for exercises, running on its own thread.

    ``DemoServer(host="127.0.0.1", port=0, *, rate_limit=5, seed=0, max_delay=10.0,
    site_size=30, page_delay=0.02)``

    - ``port=0`` picks a free port; read it back from ``server.port`` or ``server.base_url``.
    - ``rate_limit``: requests one client may have in flight on ``/limited``.
    - ``seed``: makes item prices, ``/flaky`` failures and the ``/pages`` site reproducible.
    - ``max_delay``: the longest wait (seconds) any endpoint accepts.
    - ``site_size`` and ``page_delay``: number of pages under ``/pages`` and how long each
      page takes to answer.

    Use it with ``start()``/``stop()``, or as a context manager (``with`` or ``async with``)::

        with DemoServer() as server:
            urllib.request.urlopen(server.url("/items/1"))

    ``start()`` on a running server returns it unchanged (no second server); ``stop()`` on a
    stopped server does nothing. A stopped server can be started again (with ``port=0`` it
    may get a new port); its statistics are kept. If the server thread ever crashes, every
    later call raises ``RuntimeError("demo server thread crashed: ...")``: make a new one.

    ``server.site`` is the link graph of ``/pages``: page id -> the ids it links to. Every
    page can be reached from page 0, and one link goes to a page that does not exist.
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
    ) -> None:
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0..65535 (0 = any free port), got {port!r}")
        if not isinstance(rate_limit, int) or rate_limit < 1:
            raise ValueError(f"rate_limit must be an int >= 1, got {rate_limit!r}")
        if not isinstance(site_size, int) or site_size < 1:
            raise ValueError(f"site_size must be an int >= 1, got {site_size!r}")
        if not (isinstance(max_delay, int | float) and math.isfinite(max_delay) and max_delay > 0):
            raise ValueError(f"max_delay must be a positive number of seconds, got {max_delay!r}")
        if not (isinstance(page_delay, int | float) and 0 <= page_delay <= max_delay):
            raise ValueError(f"page_delay must be between 0 and max_delay, got {page_delay!r}")
        self.host = host
        self.rate_limit = rate_limit
        self.seed = seed
        self.max_delay = float(max_delay)
        self.page_delay = float(page_delay)
        self.site: dict[int, list[int]] = _build_site(site_size, seed)
        self._requested_port = port
        self._port: int | None = None
        self._lifecycle = threading.Lock()  # serialises start() and stop()
        self._lock = threading.Lock()  # protects the counters below
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_future: asyncio.Future[None] | None = None
        self._crash: BaseException | None = None
        self._limited_in_flight: dict[str, int] = {}  # only touched on the server's loop
        self._attempts: dict[str, int] = {}
        self._in_flight = 0
        self._in_flight_per_route: dict[str, int] = {}
        self._reset_counters()

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
        return f"http://{self.host}:{self.port}"

    def url(self, path: str = "/", **query: Any) -> str:
        """``base_url + path``, with keyword arguments added as the query string.

        ``server.url("/delay/0.2", client="bob")`` -> ``"http://127.0.0.1:PORT/delay/0.2?client=bob"``
        """
        if not path.startswith("/"):
            path = "/" + path
        url = self.base_url + path
        if query:
            url += ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
        return url

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

    def _reset_counters(self) -> None:
        # _in_flight and _in_flight_per_route are live gauges: requests running now stay
        # counted, and the maxima restart from them.
        self._total = 0
        self._per_route: dict[str, int] = {}
        self._max_in_flight = self._in_flight
        self._max_per_route = {k: v for k, v in self._in_flight_per_route.items() if v}
        self._status_counts: dict[str, int] = {}
        self._attempts.clear()

    def stats(self) -> dict[str, Any]:
        """A snapshot of the request counters (safe to call from any thread).

        Keys: ``total`` (requests received), ``per_route`` (by endpoint name, e.g.
        ``"delay"``), ``in_flight`` (being handled right now), ``max_in_flight`` (the most
        handled at the same time; 1 means your requests never overlapped),
        ``max_in_flight_per_route``, ``status_counts`` (by status code as a string, plus
        ``"dropped"`` for connections closed on purpose by ``/flaky`` and ``"cancelled"`` for
        requests the client gave up on) and ``flaky_attempts`` (attempts per ``/flaky`` key).
        Requests to ``/stats`` are not counted.
        """
        self._check_alive()
        with self._lock:
            return {
                "total": self._total,
                "per_route": dict(self._per_route),
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
                "max_in_flight_per_route": dict(self._max_per_route),
                "status_counts": dict(self._status_counts),
                "flaky_attempts": dict(self._attempts),
            }

    def reset_stats(self) -> None:
        """Zero the counters and the ``/flaky`` attempt numbers.

        Requests still running stay counted in ``in_flight``, so ``max_in_flight`` restarts
        from the number running now (0 when the server is idle).
        """
        self._check_alive()
        with self._lock:
            self._reset_counters()

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
                self._total += 1
                self._per_route[route] = self._per_route.get(route, 0) + 1
                self._in_flight += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
                now = self._in_flight_per_route.get(route, 0) + 1
                self._in_flight_per_route[route] = now
                self._max_per_route[route] = max(self._max_per_route.get(route, 0), now)
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
        app.router.add_post("/stats/reset", self._stats_reset)
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

    async def _flaky(self, request: web.Request) -> web.Response:
        key, query = request.match_info["key"], request.query
        slow = self._seconds(query.get("slow", "5"), "slow", clamp=True)
        if "fail_first" in query:
            fail_first = self._int(query["fail_first"], "fail_first", 0, 1_000_000)
            mode = query.get("mode", "error")
            if mode not in ("error", "drop", "slow"):
                raise _HTTPError(400, f"mode must be error, drop or slow, got {mode!r}")
            with self._lock:
                attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
            outcome = mode if attempt <= fail_first else "ok"
        else:
            raw_rate = query.get("fail_rate", "0.3")
            try:
                fail_rate = float(raw_rate)
            except ValueError:
                fail_rate = math.nan
            if not 0 <= fail_rate <= 1:  # also rejects NaN
                raise _HTTPError(400, f"fail_rate must be between 0 and 1, got {raw_rate!r}")
            with self._lock:
                attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
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
        return web.json_response(self.stats())

    async def _stats_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.Response(status=204)


def _set_result(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


_shared: DemoServer | None = None
_shared_lock = threading.Lock()


def demo_server() -> DemoServer:
    """The process-wide shared ``DemoServer``, started on first use.

    Every call returns the same running server (it is restarted if someone stopped it, and
    replaced if it crashed), so notebooks can simply write ``server = demo_server()``.
    """
    global _shared
    with _shared_lock:
        if _shared is None or _shared._crash is not None:
            _shared = DemoServer()
        return _shared.start()
