"""Correct answers for 08_capstone written another way than the solution: each must keep
every point (tests/test_release.py). Some bind the helpers they use early (a default
argument, ``functools.partial``, ``from asyncio import ...``): the tests pass the helpers an
exercise must call as arguments, and replace no global."""

RIGHT = {
    "fetch_page": {
        "awaited_response_and_bound_search": '''
async def fetch_page(session, url, *, find=re.compile(r"<title>(.*?)</title>", re.S).search):
    response = await session.get(url)
    async with response:
        response.raise_for_status()
        html = await response.text()
    found = find(html)
    return (found.group(1) if found else "", html)
''',
    },
    "parse_links": {
        "html_parser": '''
from html.parser import HTMLParser


class PageLinks(HTMLParser):
    """Collects the ids of <a href="/pages/<n>"> links, each once, in order."""

    def __init__(self):
        super().__init__()
        self.ids = []

    def handle_starttag(self, tag, attrs):
        if tag != "a":
            return
        for name, value in attrs:
            number = (value or "").removeprefix("/pages/")
            if name == "href" and value != number and number.isascii() and number.isdigit():
                if int(number) not in self.ids:
                    self.ids.append(int(number))


def parse_links(html):
    parser = PageLinks()
    parser.feed(html)
    parser.close()
    return parser.ids
''',
    },
    "crawl": {
        "queue_and_workers": '''
async def crawl(get_page, limit, start=0):
    queue = asyncio.Queue()
    pages, errors, seen = {}, {}, {start}
    queue.put_nowait(start)

    async def worker():
        while True:
            n = await queue.get()
            try:
                html, links = await get_page(n)
            except Exception as exc:
                errors[n] = exc
            else:
                pages[n] = html
                for m in links:
                    if m not in seen:
                        seen.add(m)
                        queue.put_nowait(m)
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    await queue.join()
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return pages, errors
''',
        "gather_recursion_bound_early": '''
import functools
from asyncio import Semaphore, gather


async def crawl(get_page, limit, start=0, *, _gather=gather):
    fetch = functools.partial(get_page)
    permits = Semaphore(limit)
    pages, errors, seen = {}, {}, {start}

    async def visit(n):
        try:
            async with permits:
                html, links = await fetch(n)
        except Exception as exc:
            errors[n] = exc
            return
        pages[n] = html
        new = [m for m in dict.fromkeys(links) if m not in seen]
        seen.update(new)
        await _gather(*(visit(m) for m in new))

    await visit(start)
    return pages, errors
''',
    },
    "fetch_with_retry": {
        "wait_for_in_a_while_loop_bound_early": '''
from asyncio import sleep as pause
from asyncio import wait_for


async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5, *, _pause=pause):
    attempt = 0
    while True:
        attempt += 1
        try:
            return await wait_for(fetch(url), timeout)
        except aiohttp.ClientResponseError as exc:
            if exc.status < 500 or attempt >= attempts:
                raise
        except (TimeoutError, aiohttp.ClientConnectionError):
            if attempt >= attempts:
                raise
        await _pause(base_delay * 2 ** (attempt - 1))
''',
    },
    "save_pages": {
        "task_group_and_partial": '''
import functools


async def save_pages(pages, folder, open_file):
    open_text = functools.partial(open_file, mode="w", encoding="utf-8")
    paths = {n: Path(folder) / f"page_{n}.html" for n in pages}

    async def save(n):
        async with open_text(paths[n]) as f:
            await f.write(pages[n])

    async with asyncio.TaskGroup() as tg:
        for n in pages:
            tg.create_task(save(n))
    return paths
''',
        "awaited_open_then_close": '''
async def save_pages(pages, folder, open_file):
    async def save(n, html):
        path = Path(folder, f"page_{n}.html")
        f = await open_file(path, "w", encoding="utf-8")
        try:
            await f.write(html)
        finally:
            await f.close()
        return path

    paths = await asyncio.gather(*(save(n, html) for n, html in pages.items()))
    return dict(zip(pages, paths))
''',
    },
    "summarize": {
        "loops_and_bytes": '''
def summarize(pages, errors, stats):
    size = 0
    for html in pages.values():
        size += len(bytes(html, "utf-8"))
    reasons = {}
    for n, exc in errors.items():
        if isinstance(exc, aiohttp.ClientResponseError):
            reasons[n] = exc.status
        else:
            reasons[n] = exc.__class__.__name__
    per_route = stats.get("max_in_flight_per_route", {})
    return {"pages": len(pages), "bytes": size, "errors": reasons,
            "max_in_flight": per_route.get("pages", 0)}
''',
    },
}
