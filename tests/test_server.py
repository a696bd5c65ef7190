"""Tests of asynclab.server: a real DemoServer on 127.0.0.1, real aiohttp and urllib clients.

No test asserts a duration: they check statuses, bodies and the server's counters.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import deque

import aiohttp
import pytest

from asynclab import server as server_module
from asynclab.server import DemoServer, demo_server

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


@pytest.fixture(scope="module")
def shared():
    with DemoServer(rate_limit=3, seed=0, max_delay=2.0, site_size=12, page_delay=0.002) as s:
        yield s


@pytest.fixture
def server(shared):
    """The module's server with fresh counters."""
    shared.reset_stats()
    return shared


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
    assert "POST /stats/reset" in body["endpoints"]


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
        a.reset_stats()  # restarts the attempt numbers
        assert flaky_outcomes(a, "k", 30, fail_rate=0.5) == first
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
    get(server.url("/items/1"))
    get(server.url("/items/x"))
    get(server.url("/delay/0"))
    get(server.url("/"))
    status, over_http = get_json(server.url("/stats"))
    stats = server.stats()
    assert status == 200 and over_http == stats  # /stats itself is not counted
    assert stats["total"] == 4
    assert stats["per_route"] == {"items": 2, "delay": 1, "index": 1}
    assert stats["status_counts"] == {"200": 3, "400": 1}
    assert stats["in_flight"] == 0 and stats["max_in_flight"] == 1
    assert stats["max_in_flight_per_route"] == {"items": 1, "delay": 1, "index": 1}


def test_stats_reset_over_http_and_directly(server):
    get(server.url("/flaky/r", fail_first=0))
    assert server.stats()["flaky_attempts"] == {"r": 1}
    status, _, body = get(server.url("/stats/reset"), method="POST")
    assert status == 204 and body == ""
    empty = {
        "total": 0,
        "per_route": {},
        "in_flight": 0,
        "max_in_flight": 0,
        "max_in_flight_per_route": {},
        "status_counts": {},
        "flaky_attempts": {},
    }
    assert server.stats() == empty
    get(server.url("/items/2"))
    server.reset_stats()
    assert server.stats() == empty


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


def test_demo_server_is_a_shared_singleton():
    first = demo_server()
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


def test_demo_server_replaces_a_crashed_instance():
    first = demo_server()
    first._loop.call_soon_threadsafe(first._stop_future.set_exception, OSError("boom"))
    first._thread.join(10)
    second = demo_server()
    assert second is not first and second.running
    assert server_module._shared is second


def test_nothing_reaches_stderr():
    """Drops, timeouts, abandoned streams and stopping with busy requests stay silent."""
    script = textwrap.dedent(
        """
        import asyncio, urllib.request
        import aiohttp
        from asynclab.server import DemoServer

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
        print("done")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.stdout == "done\n"
    assert result.stderr == ""
