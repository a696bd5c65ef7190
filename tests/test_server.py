"""Tests of asynclab.server: a real DemoServer on 127.0.0.1, real aiohttp and urllib clients.

No test asserts a duration: they check statuses, bodies and the server's counters.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path

import aiohttp
import pytest

from asynclab import server as server_module
from asynclab.server import (
    ENV_VAR,
    DemoServer,
    RemoteDemoServer,
    StatsWindowError,
    demo_server,
)

# ----------------------------------------------------------------------------- helpers


def get(url: str, method: str = "GET", headers: dict | None = None):
    """urllib request -> (status, headers, body as text); HTTP errors are returned too."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read().decode()


def get_json(url: str, **kwargs):
    status, _, body = get(url, **kwargs)
    return status, json.loads(body)


async def fetch_all(urls, headers=None, limit=100):
    """GET all urls concurrently with aiohttp -> [(status, headers, text)]."""
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url):
            async with session.get(url, headers=headers) as response:
                return response.status, response.headers, await response.text()

        return await asyncio.gather(*(one(url) for url in urls))


def run(coro):
    return asyncio.run(coro)


OPTIONS = {"rate_limit": 3, "seed": 0, "max_delay": 2.0, "site_size": 12, "page_delay": 0.002}


@pytest.fixture(scope="module")
def shared():
    with DemoServer(**OPTIONS) as s:
        yield s


@pytest.fixture
def server(shared):
    """The module's server, its stats() reading a fresh window."""
    shared.reset_stats()
    return shared


@pytest.fixture(scope="module")
def remote():
    """The same server in its own process."""
    with RemoteDemoServer(**OPTIONS) as s:
        yield s


@pytest.fixture
def no_env(monkeypatch):
    """demo_server() starts its own process (whatever the environment says)."""
    monkeypatch.delenv(ENV_VAR, raising=False)


def alive(pid: int) -> bool:
    """Whether process pid exists and is not a zombie (Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not {condition} after {timeout} s"
        time.sleep(0.02)


def wait_until_gone(pid: int) -> None:
    """Until process pid (not necessarily our child) is gone or a zombie."""
    wait_for(lambda: not alive(pid))


def read_line(stream, timeout: float = 30.0) -> str:
    """One line of a child's stdout, without hanging the tests if it never comes."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no line within {timeout} s"
    return stream.readline()


def start_command(*args: str, **kwargs) -> tuple[subprocess.Popen, str]:
    """``python -m asynclab.server ARGS`` -> (the process, its base URL from the ready line)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asynclab.server", *args], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    line = read_line(process.stdout)
    found = re.fullmatch(r"asynclab demo server listening on (http://127\.0\.0\.1:\d+)\n", line)
    if not found:
        process.kill()
        pytest.fail(f"not the ready line: {line!r}; stderr: {process.communicate()[1]!r}")
    return process, found[1]


def finish(process: subprocess.Popen, timeout: float = 30.0) -> tuple[int, str, str]:
    """Wait for a process whose stdin may be closed -> (exit code, rest of stdout, stderr)."""
    if process.stdin and not process.stdin.closed:
        process.stdin.close()
    process.stdin = None
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.fixture
def command():
    """A server started with the command line; killed after the test if still running."""
    started = []

    def start(*args: str, **kwargs):
        process, url = start_command(*args, **kwargs)
        started.append(process)
        return process, url

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            finish(process)


# -------------------------------------------------------------------------- basics


def test_start_gives_port_and_urls(server):
    assert isinstance(server.port, int) and server.port > 0
    assert server.base_url == f"http://127.0.0.1:{server.port}"
    assert server.url("/delay/0.2", client="bob") == f"{server.base_url}/delay/0.2?client=bob"
    assert server.url("items/1") == f"{server.base_url}/items/1"
    assert (
        server.url("/stream?lines=2", interval=0) == f"{server.base_url}/stream?lines=2&interval=0"
    )
    assert server.running and "running" in repr(server)


def test_index_lists_endpoints(server):
    status, body = get_json(server.url("/"))
    assert status == 200
    for endpoint in ("/delay/{seconds}", "/items/{id}", "/limited", "/flaky/{key}", "/stream"):
        assert f"GET {endpoint}" in body["endpoints"]
    for endpoint in ("POST /stats/window", "GET /stats", "GET /server"):
        assert endpoint in body["endpoints"]


def test_unknown_path_and_method_answer_json(server):
    status, body = get_json(server.url("/nope"))
    assert status == 404 and "GET / lists endpoints" in body["error"]
    status, headers, text = get(server.url("/delay/0"), method="POST")
    assert status == 405 and "GET" in headers["Allow"] and "error" in json.loads(text)


# ---------------------------------------------------------------------------- /delay


def test_delay_echoes_the_request(server):
    url = server.url("/delay/0.01", client="bob", x="1")
    [(status, _, text)] = run(fetch_all([url], headers={"X-Trace": "abc"}))
    body = json.loads(text)
    assert status == 200
    assert body["delay"] == 0.01 and body["method"] == "GET" and body["path"] == "/delay/0.01"
    assert body["args"] == {"client": "bob", "x": "1"}
    assert body["headers"]["X-Trace"] == "abc"
    assert body["client"] == "bob"


def test_delay_client_defaults_to_address_and_header_wins(server):
    assert get_json(server.url("/delay/0"))[1]["client"] == "127.0.0.1"
    url = server.url("/delay/0", client="query")
    assert get_json(url, headers={"X-Client": "header"})[1]["client"] == "header"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "must not be negative"),
        ("abc", "must be a number"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("2.5", "at most max_delay=2"),
    ],
)
def test_delay_rejects_bad_values(server, value, message):
    status, body = get_json(server.url(f"/delay/{value}"))
    assert status == 400 and message in body["error"]


# ---------------------------------------------------------------------------- /items


def test_items_are_deterministic_records(server):
    status, item = get_json(server.url("/items/7", delay=0.01))
    assert status == 200
    assert item["id"] == 7 and item["name"] == "Item 7"
    assert isinstance(item["price"], float) and item["tags"]
    with DemoServer(seed=0) as twin, DemoServer(seed=1) as other:
        assert get_json(twin.url("/items/7"))[1] == item
        assert get_json(other.url("/items/7"))[1] != item


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/items/x", 400, "must be an integer"),
        ("/items/1.5", 400, "must be an integer"),
        ("/items/-1", 404, "no item -1"),
        ("/items/1000", 404, "ids go from 0 to 999"),
        ("/items/1?delay=-2", 400, "must not be negative"),
        ("/items/1?delay=soon", 400, "must be a number"),
    ],
)
def test_items_bad_input(server, path, status, message):
    got_status, body = get_json(server.url(path))
    assert got_status == status and message in body["error"]


# -------------------------------------------------------------------------- /limited


def test_limited_rejects_requests_beyond_the_limit(server):
    urls = [server.url("/limited", delay=0.5)] * 6
    results = run(fetch_all(urls, headers={"X-Client": "alice"}))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 200, 429, 429, 429]
    for status, headers, text in results:
        if status == 429:
            assert headers["Retry-After"] == "1"
            assert "limit is 3" in json.loads(text)["error"]
        else:
            assert json.loads(text)["client"] == "alice"
    assert server.stats()["status_counts"] == {"200": 3, "429": 3}


def test_limited_counts_each_client_separately(server):
    urls = [server.url("/limited", delay=0.3, client=name) for name in "aaabbb"]
    statuses = [status for status, _, _ in run(fetch_all(urls))]
    assert statuses == [200] * 6


def test_limited_frees_slots_when_requests_finish(server):
    for _ in range(5):  # one at a time never reaches the limit
        assert get(server.url("/limited", delay=0))[0] == 200
    assert get(server.url("/limited", delay=-1))[0] == 400


# ---------------------------------------------------------------------------- /flaky


def test_flaky_fail_first_error(server):
    url = server.url("/flaky/err", fail_first=2, mode="error")
    first, second, third = get_json(url), get_json(url), get_json(url)
    assert first[0] == second[0] == 500 and "attempt 2" in second[1]["error"]
    assert third == (200, {"key": "err", "attempt": 3, "ok": True})
    assert server.stats()["flaky_attempts"] == {"err": 3}


def test_flaky_drop_closes_the_connection(server):
    url = server.url("/flaky/drop", fail_first=1, mode="drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        get(url)
    assert get_json(url)[1]["attempt"] == 2
    assert server.stats()["status_counts"]["dropped"] == 1


def test_flaky_drop_reaches_aiohttp_as_server_disconnected(server):
    # aiohttp quietly retries a GET once when the connection drops, so drop twice.
    url = server.url("/flaky/drop2", fail_first=2, mode="drop")

    async def main():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                async with session.get(url) as response:
                    await response.read()
            async with session.get(url) as response:
                return response.status, await response.json()

    assert run(main()) == (200, {"key": "drop2", "attempt": 3, "ok": True})
    assert server.stats()["status_counts"] == {"dropped": 2, "200": 1}


def test_flaky_slow_times_out_then_answers(server):
    url = server.url("/flaky/slow", fail_first=1, mode="slow", slow=5)

    async def main():
        async with aiohttp.ClientSession() as session:
            first = asyncio.ensure_future(session.get(url))
            async with asyncio.timeout(10):  # until the server is on the slow attempt
                while server.stats()["in_flight"] == 0:
                    await asyncio.sleep(0.01)
            with pytest.raises(asyncio.TimeoutError):  # the client gives up on it
                async with asyncio.timeout(0.05):
                    await first
            async with session.get(url) as response:
                return await response.json()

    assert run(main()) == {"key": "slow", "attempt": 2, "ok": True}
    assert server.stats()["status_counts"]["cancelled"] == 1  # the server saw the client leave


def test_flaky_slow_is_capped_at_max_delay():
    with DemoServer(max_delay=0.05) as small:
        status, body = get_json(small.url("/flaky/k", fail_first=1, mode="slow", slow=100))
    assert status == 200 and body["slow"] == 0.05


def flaky_outcomes(server, key, n, **query):
    """Classify n successive attempts of one key as ok / error / drop / slow."""
    outcomes = []
    for _ in range(n):
        try:
            status, _, text = get(server.url(f"/flaky/{key}", slow=0.01, **query))
        except (http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError):
            outcomes.append("drop")
            continue
        body = json.loads(text)
        outcomes.append("error" if status == 500 else "slow" if "slow" in body else "ok")
    return outcomes


def test_flaky_random_failures_are_deterministic(server):
    with DemoServer(seed=7) as a, DemoServer(seed=7) as b:
        first = flaky_outcomes(a, "k", 30, fail_rate=0.5)
        assert flaky_outcomes(b, "k", 30, fail_rate=0.5) == first
        assert set(first) == {"ok", "error", "drop", "slow"}
        later = flaky_outcomes(b, "k", 30, fail_rate=0.5)  # attempts 31 to 60
        window = a.reset_stats()  # observes only: the attempt numbers go on
        assert flaky_outcomes(a, "k", 30, fail_rate=0.5) == later
        assert window.stats()["flaky_attempts"] == {"k": 30}
    # ?seed= overrides the server's seed
    assert flaky_outcomes(server, "k", 30, fail_rate=0.5, seed=7) == first
    assert set(flaky_outcomes(server, "always", 5, fail_rate=0)) == {"ok"}
    assert "ok" not in flaky_outcomes(server, "never", 5, fail_rate=1)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("fail_rate=2", "between 0 and 1"),
        ("fail_rate=nan", "between 0 and 1"),
        ("fail_rate=often", "between 0 and 1"),
        ("fail_first=-1", "between 0 and"),
        ("fail_first=two", "must be an integer"),
        ("fail_first=1&mode=explode", "mode must be error, drop or slow"),
        ("slow=-1", "must not be negative"),
    ],
)
def test_flaky_bad_input(server, query, message):
    status, body = get_json(server.url(f"/flaky/bad?{query}"))
    assert status == 400 and message in body["error"]
    assert server.stats()["flaky_attempts"] == {}  # a rejected request is not an attempt


# ---------------------------------------------------------------------------- /stream


def test_stream_sends_lines_one_at_a_time(server):
    url = server.url("/stream", lines=4, interval=0.1)

    async def main():
        seen, running_after_first = [], None
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert response.content_type == "text/plain"
            async for line in response.content:
                if not seen:  # the server is still writing the rest
                    running_after_first = server.stats()["in_flight"]
                seen.append(line.decode())
        return seen, running_after_first

    lines, running = run(main())
    assert lines == ["line 0\n", "line 1\n", "line 2\n", "line 3\n"]
    assert running == 1


def test_stream_ndjson(server):
    status, headers, text = get(server.url("/stream", lines=3, interval=0, format="ndjson"))
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    assert [json.loads(line)["line"] for line in text.splitlines()] == [0, 1, 2]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("lines=0", "between 1 and 1000"),
        ("lines=1001", "between 1 and 1000"),
        ("lines=many", "must be an integer"),
        ("interval=-0.1", "must not be negative"),
        ("interval=nan", "finite"),
        ("interval=3", "at most max_delay"),
        ("format=xml", "format must be text or ndjson"),
    ],
)
def test_stream_bad_input(server, query, message):
    status, body = get_json(server.url(f"/stream?{query}"))
    assert status == 400 and message in body["error"]


# ----------------------------------------------------------------------------- /pages


def test_pages_form_the_site_graph(server):
    async def crawl():
        graph, broken, queue, seen = {}, set(), deque([0]), {0}
        async with aiohttp.ClientSession() as session:
            while queue:
                n = queue.popleft()
                async with session.get(server.url(f"/pages/{n}")) as response:
                    if response.status == 404:
                        broken.add(n)
                        continue
                    assert response.status == 200 and response.content_type == "text/html"
                    html = await response.text()
                assert f"<title>Page {n}</title>" in html
                graph[n] = [int(m) for m in re.findall(r'<a href="/pages/(\d+)">', html)]
                for m in graph[n]:
                    if m not in seen:
                        seen.add(m)
                        queue.append(m)
        return graph, broken

    graph, broken = run(crawl())
    assert graph == server.site  # every page is reachable from page 0
    assert sorted(graph) == list(range(12))
    assert broken == {12}
    assert sum(links.count(12) for links in graph.values()) == 1
    assert all(2 <= len(links) <= 4 for links in graph.values())
    assert server.stats()["status_counts"] == {"200": 12, "404": 1}


def test_pages_root_and_errors(server):
    page0 = get(server.url("/pages/0"))[2]
    assert get(server.url("/pages"))[2] == page0 == get(server.url("/pages/"))[2]
    status, body = get_json(server.url("/pages/x"))
    assert status == 400 and "must be an integer" in body["error"]
    status, body = get_json(server.url("/pages/99"))
    assert status == 404 and "no page 99" in body["error"]


def test_site_depends_on_seed_and_size():
    assert DemoServer(seed=3).site == DemoServer(seed=3).site
    assert DemoServer(seed=3).site != DemoServer(seed=4).site
    assert len(DemoServer(site_size=100).site) == 100
    assert DemoServer(site_size=1).site == {0: [1]}


# ------------------------------------------------------------------------------ stats


def test_stats_count_routes_and_statuses(server):
    window = server.reset_stats()
    get(server.url("/items/1"))
    get(server.url("/items/x"))
    get(server.url("/delay/0"))
    get(server.url("/"))
    get(server.url("/server"))
    status, over_http = get_json(server.url("/stats", window=window.id))
    stats = server.stats()
    assert status == 200 and over_http == stats == window.stats()  # /stats is not counted
    assert stats["total"] == 4
    assert stats["per_route"] == {"items": 2, "delay": 1, "index": 1}
    assert stats["status_counts"] == {"200": 3, "400": 1}
    assert stats["in_flight"] == 0 and stats["max_in_flight"] == 1
    assert stats["max_in_flight_per_route"] == {"items": 1, "delay": 1, "index": 1}


EMPTY = {
    "total": 0,
    "per_route": {},
    "in_flight": 0,
    "max_in_flight": 0,
    "max_in_flight_per_route": {},
    "status_counts": {},
    "flaky_attempts": {},
}


def test_windows_over_http_and_directly():
    # a server of its own: it counts every request since its start, and a request that an
    # earlier test gave up on may still reach the module's server on a busy machine
    with DemoServer(**OPTIONS) as server:
        _windows_over_http_and_directly(server)


def _windows_over_http_and_directly(server):
    get(server.url("/flaky/r", fail_first=0))
    before = server.stats()
    assert before["flaky_attempts"] == {"r": 1} and before["total"] == 1
    status, opened = get_json(server.url("/stats/window"), method="POST")
    assert status == 201 and set(opened) == {"window", "instance"}
    assert get_json(server.url("/stats", window=opened["window"]))[1] == EMPTY
    assert server.stats() == before  # a window opened by another client changes nothing here
    get(server.url("/items/2"))
    window = server.reset_stats()
    assert window.id > opened["window"] and server.stats() == window.stats() == EMPTY
    assert get_json(server.url("/stats", window=opened["window"]))[1]["total"] == 1
    _, since_start = get_json(server.url("/stats"))
    assert since_start["total"] == 2 and since_start["per_route"]["items"] == 1
    assert repr(window) == f"<stats window {window.id} of the demo server in this process>"
    assert window.key("retry") == f"retry-w{window.id}"


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("window=999999", 404, "never opened stats window 999999"),
        ("window=x", 400, "window must be an integer"),
        ("window=-1", 400, "window must be between 0"),
        ("window=0&instance=feedbeef", 409, "another demo server"),
    ],
)
def test_bad_windows_answer_clearly(server, query, status, message):
    got_status, body = get_json(server.url(f"/stats?{query}"))
    assert got_status == status and message in body["error"]


def test_oldest_windows_are_dropped_with_a_clear_error():
    with DemoServer(max_windows=3) as small:
        windows = [small.reset_stats() for _ in range(4)]
        with pytest.raises(StatsWindowError, match="window 1 was dropped: .* keeps the 3 most"):
            windows[0].stats()
        assert all(w.stats() == EMPTY for w in windows[1:])
        status, body = get_json(small.url("/stats", window=windows[0].id))
        assert status == 410 and "dropped" in body["error"]
        assert get_json(small.url("/stats"))[0] == 200  # since the start: never dropped


def test_each_window_keeps_its_own_maximum(server):
    """Windows opened at different moments see different maxima; none is lost."""
    first = server.reset_stats()
    worker = threading.Thread(target=run, args=(fetch_all([server.url("/delay/0.4")] * 3),))
    worker.start()
    for _ in range(500):
        if server.stats()["in_flight"] == 3:
            break
        time.sleep(0.01)
    during = server.reset_stats()  # opened while 3 are running: starts at 3
    worker.join(10)
    after = server.reset_stats()  # opened when idle: starts at 0
    run(fetch_all([server.url("/delay/0.05")] * 2))
    assert (first.stats()["max_in_flight"], during.stats()["max_in_flight"],
            after.stats()["max_in_flight"]) == (3, 3, 2)
    run(fetch_all([server.url("/items/1", delay=0.2)] * 5))
    for window in (first, during, after):
        stats = window.stats()
        assert stats["max_in_flight"] == 5 and stats["max_in_flight_per_route"]["items"] == 5
    assert first.stats()["max_in_flight_per_route"]["delay"] == 3
    assert during.stats()["max_in_flight_per_route"]["delay"] == 3
    assert after.stats()["max_in_flight_per_route"]["delay"] == 2
    assert (first.stats()["total"], during.stats()["total"], after.stats()["total"]) == (10, 7, 7)


def test_reset_keeps_requests_that_are_still_running(server):
    worker = threading.Thread(target=run, args=(fetch_all([server.url("/delay/0.5")] * 3),))
    worker.start()
    for _ in range(500):  # wait until the server is handling all three
        if server.stats()["in_flight"] == 3:
            break
        time.sleep(0.01)
    server.reset_stats()
    stats = server.stats()
    assert (stats["total"], stats["in_flight"], stats["max_in_flight"]) == (0, 3, 3)
    worker.join(10)
    stats = server.stats()
    assert (stats["in_flight"], stats["max_in_flight"]) == (0, 3)
    assert stats["status_counts"] == {"200": 3}


def test_max_in_flight_concurrent_vs_sequential(server):
    run(fetch_all([server.url("/delay/0.2")] * 10))
    stats = server.stats()
    assert stats["max_in_flight"] == 10 and stats["max_in_flight_per_route"] == {"delay": 10}
    assert stats["in_flight"] == 0

    server.reset_stats()

    async def one_after_another():
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                async with session.get(server.url("/delay/0.01")) as response:
                    await response.read()

    run(one_after_another())
    stats = server.stats()
    assert stats["total"] == 10 and stats["max_in_flight"] == 1


def test_handler_bug_answers_500_json(server, monkeypatch):
    def broken(item_id):
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(server, "_item_record", broken)
    status, body = get_json(server.url("/items/1"))
    assert status == 500 and "ZeroDivisionError" in body["error"]
    monkeypatch.undo()
    assert get(server.url("/items/1"))[0] == 200
    assert server.stats()["status_counts"] == {"500": 1, "200": 1}


# --------------------------------------------------------------------- serving model


def test_serves_while_the_calling_thread_sleeps(server):
    results = []
    worker = threading.Thread(target=lambda: results.append(get(server.url("/delay/0.05"))))
    worker.start()
    time.sleep(0.3)  # blocks this thread; the server thread keeps serving
    worker.join(10)
    assert results and results[0][0] == 200


def test_thousand_concurrent_requests(server):
    results = run(fetch_all([server.url("/delay/0.05")] * 1000, limit=0))
    assert [status for status, _, _ in results] == [200] * 1000
    stats = server.stats()
    assert stats["total"] == 1000 and stats["status_counts"] == {"200": 1000}
    assert stats["in_flight"] == 0


# ------------------------------------------------------------------------ lifecycle


def test_port_in_use_names_the_address():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = DemoServer(port=port)
        with pytest.raises(OSError, match=rf"127\.0\.0\.1:{port}.*port=0"):
            busy.start()
        assert not busy.running
    assert busy.start().port == port  # free again: the same object can start
    busy.stop()


def test_start_twice_stop_twice_and_restart():
    s = DemoServer()
    with pytest.raises(RuntimeError, match="not running"):
        s.url("/")
    assert s.start() is s
    port = s.port
    assert s.start() is s and s.port == port  # no second server
    s.stop()
    s.stop()  # quiet no-op
    assert not s.running and "stopped" in repr(s)
    with pytest.raises(RuntimeError, match="not running"):
        _ = s.base_url
    assert get(s.start().url("/items/0"))[0] == 200
    s.stop()


def test_sync_context_manager():
    with DemoServer() as s:
        assert s.running and get(s.url("/items/3"))[0] == 200
    assert not s.running


def test_async_context_manager():
    async def main():
        async with DemoServer() as s:
            assert s.running
            [(status, _, _)] = await fetch_all([s.url("/delay/0")])
        return s, status

    s, status = run(main())
    assert status == 200 and not s.running


def test_demo_server_is_a_shared_singleton(no_env):
    first = demo_server()
    assert isinstance(first, RemoteDemoServer)
    assert demo_server() is first and first.running
    found = []
    threads = [threading.Thread(target=lambda: found.append(demo_server())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(found) == 8 and all(s is first for s in found)
    first.stop()
    assert demo_server() is first and first.running  # restarted
    assert get(first.url("/items/1"))[0] == 200


@pytest.mark.parametrize(
    "kwargs",
    [
        {"port": -1},
        {"port": 70000},
        {"rate_limit": 0},
        {"site_size": 0},
        {"max_delay": -1},
        {"max_delay": float("inf")},
        {"page_delay": -0.1},
    ],
)
def test_constructor_rejects_bad_arguments(kwargs):
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        DemoServer(**kwargs)


def test_crash_after_start_is_reported_not_hung():
    s = DemoServer().start()
    thread = s._thread
    # Make the server's main coroutine fail, as a fatal error inside the loop would.
    s._loop.call_soon_threadsafe(s._stop_future.set_exception, OSError("boom"))
    thread.join(10)
    assert not thread.is_alive()
    for call in (lambda: s.url("/"), s.stats, s.start, s.reset_stats):
        with pytest.raises(RuntimeError, match="demo server thread crashed: .*boom"):
            call()
    s.stop()
    s.stop()  # still a quiet no-op


def test_crash_during_start_is_reported(monkeypatch):
    s = DemoServer()

    def broken_app():
        raise ValueError("cannot build the app")

    monkeypatch.setattr(s, "_make_app", broken_app)
    with pytest.raises(RuntimeError, match="demo server thread crashed: .*cannot build"):
        s.start()
    with pytest.raises(RuntimeError, match="crashed"):
        s.start()


def test_start_times_out_instead_of_hanging(monkeypatch):
    s = DemoServer()

    async def never_ready(ready):
        await asyncio.sleep(3600)

    monkeypatch.setattr(s, "_main", never_ready)
    with pytest.raises(RuntimeError, match="did not start within 0.2 s"):
        s.start(timeout=0.2)
    assert not s.running


def test_demo_server_restarts_a_process_that_died(no_env):
    first = demo_server()
    pid = first.pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not first.running)
    assert not first.running and "ended with exit code" in repr(first)
    with pytest.raises(RuntimeError, match=r"process has ended \(exit code -9\).*demo_server\(\)"):
        first.url("/")
    second = demo_server()
    assert second is first and second.running and second.pid != pid
    assert get(second.url("/items/1"))[0] == 200


def test_nothing_reaches_stderr():
    """Drops, timeouts, abandoned streams and stopping with busy requests stay silent."""
    script = textwrap.dedent(
        """
        import asyncio, urllib.request
        import aiohttp
        from asynclab.server import DemoServer, RemoteDemoServer, demo_server

        async def main(s):
            timeout = aiohttp.ClientTimeout(total=0.05)
            async with aiohttp.ClientSession() as session:
                async def call(path):
                    try:
                        async with session.get(s.url(path), timeout=timeout) as r:
                            await r.content.readline()
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        pass
                paths = ["/delay/1", "/stream?lines=9&interval=0.02", "/flaky/a?fail_rate=1",
                         "/flaky/b?fail_first=9&mode=drop", "/nope", "/items/x", "/limited"]
                await asyncio.gather(*(call(p) for p in paths * 5))
                for _ in range(5):
                    asyncio.ensure_future(call("/delay/1"))
                await asyncio.sleep(0.02)

        s = DemoServer(rate_limit=1).start()
        asyncio.run(main(s))
        s.stop()
        s.stop()
        with DemoServer() as t:
            urllib.request.urlopen(t.url("/items/1")).read()
        r = RemoteDemoServer(rate_limit=1).start()
        asyncio.run(main(r))
        r.stop()
        shared = demo_server()  # left running: it ends with this process
        asyncio.run(main(shared))
        print("done")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        timeout=60, env=env,
    )
    assert result.stdout == "done\n"
    assert result.stderr == ""


# --------------------------------------------------------------------- command line


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_serves_until_a_signal(command, signum):
    process, url = command("--seed", "3", "--site-size", "5", "--rate-limit", "2")
    status, settings = get_json(url + "/server")
    assert status == 200 and settings["rate_limit"] == 2 and settings["seed"] == 3
    assert settings["site"] == {str(k): v for k, v in DemoServer(seed=3, site_size=5).site.items()}
    assert get(url + "/items/1")[0] == 200
    process.stdin.close()  # without --exit-with-stdin, the end of stdin is no reason to stop
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.5)
    assert get(url + "/items/2")[0] == 200
    process.send_signal(signum)
    assert finish(process) == (0, "", "")


def test_command_with_exit_with_stdin_ends_when_stdin_closes(command):
    process, url = command("--exit-with-stdin")
    assert get(url + "/delay/0")[0] == 200
    process.stdin.close()
    assert finish(process) == (0, "", "")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/items/1", timeout=5)


def test_command_reports_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "asynclab.server", "--port", str(port)],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and result.stdout == ""
    assert f"127.0.0.1:{port}: the port is in use" in result.stderr


def test_command_rejects_bad_options():
    result = subprocess.run([sys.executable, "-m", "asynclab.server", "--rate-limit", "0"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "rate_limit must be an int >= 1" in result.stderr


# ------------------------------------------------------------ the server in a process


def test_remote_server_offers_what_the_notebooks_use(remote, shared):
    assert remote.running and isinstance(remote.pid, int) and remote.pid != os.getpid()
    assert remote.host == "127.0.0.1" and remote.base_url == f"http://127.0.0.1:{remote.port}"
    assert remote.url("/delay/0.2", client="bob") == f"{remote.base_url}/delay/0.2?client=bob"
    assert repr(remote) == f"<demo server process {remote.pid} on {remote.base_url}>"
    assert remote.site == shared.site and remote.rate_limit == 3 and remote.seed == 0
    assert (remote.max_delay, remote.page_delay, remote.max_windows) == (2.0, 0.002, 100)
    remote.site[0].append(99)  # a copy: the handle's own is unchanged
    assert remote.site == shared.site
    assert get_json(remote.url("/items/7"))[1] == get_json(shared.url("/items/7"))[1]
    window = remote.reset_stats()
    run(fetch_all([remote.url("/delay/0.2")] * 4))
    assert window.stats() == remote.stats() == {
        "total": 4, "per_route": {"delay": 4}, "in_flight": 0, "max_in_flight": 4,
        "max_in_flight_per_route": {"delay": 4}, "status_counts": {"200": 4},
        "flaky_attempts": {}}
    assert repr(window) == f"<stats window {window.id} of the demo server at {remote.base_url}>"


def test_an_answer_cannot_rewrite_or_erase_a_window(remote, monkeypatch):
    """What a test's window recorded stays, whatever an answer does after it opened."""
    window = remote.reset_stats()  # the test's window
    # the "answer": an unlimited burst...
    run(fetch_all([remote.url("/delay/0.5")] * 10))
    run(fetch_all([remote.url("/limited", client="cheat", delay=0.5)] * 8))
    # ...then it covers its tracks: new windows, through the handle and over HTTP...
    remote.reset_stats()
    assert get_json(remote.url("/stats/window"), method="POST")[0] == 201
    # ...the in-process server's code patched...
    monkeypatch.setattr(DemoServer, "_window_stats", lambda *args: dict(EMPTY))
    # ...the handle's stats() rewritten (it has no room for that)...
    with pytest.raises(AttributeError):
        remote.stats = lambda: dict(EMPTY)
    with pytest.raises(AttributeError):
        window.stats = lambda: dict(EMPTY)
    # ...and exactly `limit` polite requests.
    run(fetch_all([remote.url("/limited", client="cheat", delay=0.2)] * 3))
    assert remote.stats()["status_counts"] == {"200": 3}  # the handle's latest window
    stats = window.stats()
    assert stats["total"] == 21 and stats["max_in_flight"] == 10
    assert stats["status_counts"] == {"200": 16, "429": 5}
    assert stats["per_route"] == {"delay": 10, "limited": 11}


def test_a_window_of_another_process_cannot_be_read(remote):
    window = remote.reset_stats()
    with RemoteDemoServer() as other:
        status, body = get_json(other.url("/stats", window=window.id, instance=window.instance))
    assert status == 409 and "another demo server" in body["error"]


def test_remote_stats_window_errors_are_lookup_errors():
    with RemoteDemoServer(max_windows=2) as small:
        first = small.reset_stats()
        small.reset_stats()
        small.reset_stats()
        with pytest.raises(StatsWindowError, match="window 1 was dropped"):
            first.stats()
        assert small.stats() == EMPTY  # the handle's latest window
    with pytest.raises(RuntimeError, match="does not answer"):
        first.stats()  # the server has stopped
    with pytest.raises(RuntimeError, match="not running"):
        small.stats()


def test_flaky_attempts_go_on_across_windows(remote):
    window = remote.reset_stats()
    key = window.key("retry")
    url = remote.url(f"/flaky/{key}", fail_first=1, mode="error")
    assert get_json(url)[0] == 500 and get_json(url)[1]["attempt"] == 2
    later = remote.reset_stats()
    assert get_json(url)[1]["attempt"] == 3  # a window observes; it does not restart them
    assert window.stats()["flaky_attempts"] == {key: 3}
    assert later.stats()["flaky_attempts"] == {key: 1}
    fresh = later.key("retry")
    assert fresh != key
    fresh_url = remote.url(f"/flaky/{fresh}", fail_first=1, mode="error")
    assert get_json(fresh_url)[0] == 500


def test_remote_lifecycle_and_repr():
    handle = RemoteDemoServer()
    assert not handle.running and repr(handle) == "<demo server process: stopped>"
    with pytest.raises(RuntimeError, match="not running"):
        handle.url("/")
    assert handle.start() is handle
    pid = handle.pid
    assert handle.start() is handle and handle.pid == pid  # no second process
    handle.stop()
    handle.stop()  # quiet no-op
    wait_until_gone(pid)
    assert not handle.running and handle.pid is None
    with handle:
        assert handle.running and handle.pid != pid
        assert get(handle.url("/items/0"))[0] == 200
    assert not handle.running


def test_remote_async_context_manager():
    async def main():
        async with RemoteDemoServer() as s:
            [(status, _, _)] = await fetch_all([s.url("/delay/0")])
            return s, status

    s, status = run(main())
    assert status == 200 and not s.running


def test_remote_start_failure_says_why():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=rf"exited with code 1; it said: .*{port}: the port"):
            RemoteDemoServer(port=port).start()


@pytest.mark.parametrize("kwargs", [{"port": -1}, {"rate_limit": 0}, {"max_windows": 0},
                                    {"page_delay": 20}])
def test_remote_constructor_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RemoteDemoServer(**kwargs)


PARENT = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a kernel survives an interrupt
from asynclab import demo_server
server = demo_server()
print(server.pid, server.base_url, flush=True)
sys.stdin.read()
"""


def test_the_server_process_ends_with_its_parent():
    """A kernel that is interrupted keeps its server; a kernel that dies takes it along."""
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, start_new_session=True)
    try:
        pid, url = read_line(parent.stdout).split()
        os.killpg(parent.pid, signal.SIGINT)  # Jupyter interrupts the kernel's group
        assert get(url + "/delay/0.1")[0] == 200 and alive(int(pid))
        parent.kill()  # the kernel dies without a chance to clean up
        assert parent.wait(timeout=30) == -signal.SIGKILL
        wait_until_gone(int(pid))
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url + "/items/1", timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()
        _, err = parent.communicate(timeout=30)
    assert err == ""


# ------------------------------------------------------- attached: ASYNCLAB_DEMO_SERVER


def test_demo_server_attaches_to_the_server_the_environment_names(command, monkeypatch):
    process, url = command("--rate-limit", "4")
    monkeypatch.setattr(server_module, "_shared", None)
    monkeypatch.setenv(ENV_VAR, url + "/")
    handle = demo_server()
    assert demo_server() is handle and handle.running and handle.pid is None
    assert handle.base_url == url and handle.rate_limit == 4 and handle.site == DemoServer().site
    assert repr(handle) == f"<demo server at {url} (started elsewhere)>"
    window = handle.reset_stats()
    assert get(handle.url("/items/1"))[0] == 200
    assert window.stats()["per_route"] == {"items": 1}
    handle.stop()  # not ours to stop
    assert handle.running and get(handle.url("/items/2"))[0] == 200
    assert process.poll() is None
    process.terminate()
    assert process.wait(timeout=30) == 0
    assert not handle.running
    with pytest.raises(RuntimeError, match=f"{url} does not answer.*{ENV_VAR}"):
        demo_server()


def test_demo_server_says_when_the_named_server_is_missing(monkeypatch):
    monkeypatch.setattr(server_module, "_shared", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there
    monkeypatch.setenv(ENV_VAR, f"http://127.0.0.1:{port}")
    with pytest.raises(RuntimeError, match=rf"127\.0\.0\.1:{port} does not answer.*{ENV_VAR}"):
        demo_server()
    monkeypatch.setenv(ENV_VAR, "127.0.0.1:8765")
    with pytest.raises(RuntimeError, match=f"{ENV_VAR}: .*base URL such as"):
        demo_server()
