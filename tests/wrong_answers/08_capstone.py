"""Typical wrong answers for 08_capstone: each must score 0 on its own exercise."""

WRONG = {
    "fetch_page": {
        "no_raise_for_status": '''
async def fetch_page(session, url):
    async with session.get(url) as response:
        html = await response.text()
    match = re.search(r"<title>(.*?)</title>", html)
    return (match.group(1) if match else ""), html
''',
        "closes_the_given_session": '''
async def fetch_page(session, url):
    async with session:
        async with session.get(url) as response:
            response.raise_for_status()
            html = await response.text()
    match = re.search(r"<title>(.*?)</title>", html)
    return (match.group(1) if match else ""), html
''',
        "opens_its_own_session": '''
async def fetch_page(session, url):
    async with aiohttp.ClientSession() as own_session:
        async with own_session.get(url) as response:
            response.raise_for_status()
            html = await response.text()
    match = re.search(r"<title>(.*?)</title>", html)
    return (match.group(1) if match else ""), html
''',
        "title_crashes_without_title": '''
async def fetch_page(session, url):
    async with session.get(url) as response:
        response.raise_for_status()
        html = await response.text()
    return re.search(r"<title>(.*?)</title>", html).group(1), html
''',
    },
    "parse_links": {
        "strings_not_ints": '''
def parse_links(html):
    ids = []
    for page in re.findall(r'href=["\\']/pages/(\\d+)["\\']', html):
        if page not in ids:
            ids.append(page)
    return ids
''',
        "keeps_duplicates": '''
def parse_links(html):
    return [int(page) for page in re.findall(r'href=["\\']/pages/(\\d+)["\\']', html)]
''',
        "sorted_set_loses_order": '''
def parse_links(html):
    return sorted({int(page) for page in re.findall(r'href=["\\']/pages/(\\d+)["\\']', html)})
''',
        "matches_anywhere": '''
def parse_links(html):
    ids = []
    for page in re.findall(r"/pages/(\\d+)", html):
        if int(page) not in ids:
            ids.append(int(page))
    return ids
''',
        "double_quotes_only": '''
def parse_links(html):
    ids = []
    for page in re.findall(r'href="/pages/(\\d+)"', html):
        if int(page) not in ids:
            ids.append(int(page))
    return ids
''',
        "href_of_any_tag": '''
def parse_links(html):
    ids = []
    for quote, page in re.findall(r'href=(["\\'])/pages/(\\d+)\\1', html):
        if int(page) not in ids:
            ids.append(int(page))
    return ids
''',
    },
    "crawl": {
        "one_page_at_a_time": '''
async def crawl(get_page, limit, start=0):
    pages, errors, seen, todo = {}, {}, {start}, [start]
    while todo:
        n = todo.pop(0)
        try:
            html, links = await get_page(n)
        except Exception as exc:
            errors[n] = exc
            continue
        pages[n] = html
        for m in links:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return pages, errors
''',
        "no_limit_round_by_round": '''
async def crawl(get_page, limit, start=0):
    pages, errors, seen, wave = {}, {}, {start}, [start]
    while wave:
        answers = await asyncio.gather(*(get_page(n) for n in wave), return_exceptions=True)
        next_wave = []
        for n, answer in zip(wave, answers):
            if isinstance(answer, Exception):
                errors[n] = answer
                continue
            html, links = answer
            pages[n] = html
            for m in links:
                if m not in seen:
                    seen.add(m)
                    next_wave.append(m)
        wave = next_wave
    return pages, errors
''',
        "seen_only_when_done": '''
async def crawl(get_page, limit, start=0):
    semaphore = asyncio.Semaphore(limit)
    pages, errors = {}, {}

    async def visit(n, tg):
        try:
            async with semaphore:
                html, links = await get_page(n)
        except Exception as exc:
            errors[n] = exc
            return
        pages[n] = html
        for m in links:
            if m not in pages and m not in errors:
                tg.create_task(visit(m, tg))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(visit(start, tg))
    return pages, errors
''',
        "first_error_stops_the_crawl": '''
async def crawl(get_page, limit, start=0):
    semaphore = asyncio.Semaphore(limit)
    pages, errors, seen = {}, {}, {start}

    async def visit(n, tg):
        async with semaphore:
            html, links = await get_page(n)
        pages[n] = html
        for m in links:
            if m not in seen:
                seen.add(m)
                tg.create_task(visit(m, tg))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(visit(start, tg))
    return pages, errors
''',
        "semaphore_per_page": '''
async def crawl(get_page, limit, start=0):
    pages, errors, seen = {}, {}, {start}

    async def visit(n, tg):
        try:
            async with asyncio.Semaphore(limit):
                html, links = await get_page(n)
        except Exception as exc:
            errors[n] = exc
            return
        pages[n] = html
        for m in links:
            if m not in seen:
                seen.add(m)
                tg.create_task(visit(m, tg))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(visit(start, tg))
    return pages, errors
''',
        "holds_permit_while_following_links": '''
async def crawl(get_page, limit, start=0):
    semaphore = asyncio.Semaphore(limit)
    pages, errors, seen = {}, {}, {start}

    async def visit(n):
        async with semaphore:
            try:
                html, links = await get_page(n)
            except Exception as exc:
                errors[n] = exc
                return
            pages[n] = html
            new = [m for m in links if m not in seen]
            seen.update(new)
            await asyncio.gather(*(visit(m) for m in new))

    await visit(start)
    return pages, errors
''',
    },
    "fetch_with_retry": {
        "retries_everything": '''
async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5):
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(timeout):
                return await fetch(url)
        except Exception:
            if attempt == attempts:
                raise
        await asyncio.sleep(base_delay * 2 ** (attempt - 1))
''',
        "constant_delay": '''
async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5):
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(timeout):
                return await fetch(url)
        except aiohttp.ClientResponseError as exc:
            if exc.status < 500 or attempt == attempts:
                raise
        except (TimeoutError, aiohttp.ClientConnectionError):
            if attempt == attempts:
                raise
        await asyncio.sleep(base_delay)
''',
        "no_timeout": '''
async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except aiohttp.ClientResponseError as exc:
            if exc.status < 500 or attempt == attempts:
                raise
        except aiohttp.ClientConnectionError:
            if attempt == attempts:
                raise
        await asyncio.sleep(base_delay * 2 ** (attempt - 1))
''',
        "one_timeout_for_all_attempts": '''
async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5):
    async with asyncio.timeout(timeout):
        for attempt in range(1, attempts + 1):
            try:
                return await fetch(url)
            except aiohttp.ClientResponseError as exc:
                if exc.status < 500 or attempt == attempts:
                    raise
            except aiohttp.ClientConnectionError:
                if attempt == attempts:
                    raise
            await asyncio.sleep(base_delay * 2 ** (attempt - 1))
''',
        "blocking_time_sleep": '''
import time


async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5):
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(timeout):
                return await fetch(url)
        except aiohttp.ClientResponseError as exc:
            if exc.status < 500 or attempt == attempts:
                raise
        except (TimeoutError, aiohttp.ClientConnectionError):
            if attempt == attempts:
                raise
        time.sleep(base_delay * 2 ** (attempt - 1))
''',
        "waits_after_the_last_attempt": '''
async def fetch_with_retry(fetch, url, attempts=4, base_delay=0.05, timeout=0.5):
    error = None
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(timeout):
                return await fetch(url)
        except aiohttp.ClientResponseError as exc:
            if exc.status < 500:
                raise
            error = exc
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            error = exc
        await asyncio.sleep(base_delay * 2 ** (attempt - 1))
    raise error
''',
    },
    "save_pages": {
        "blocking_open": '''
async def save_pages(pages, folder, open_file):
    paths = {}
    for n, html in pages.items():
        path = Path(folder) / f"page_{n}.html"
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
        paths[n] = path
    return paths
''',
        "one_file_after_another": '''
async def save_pages(pages, folder, open_file):
    paths = {}
    for n, html in pages.items():
        path = Path(folder) / f"page_{n}.html"
        async with open_file(path, "w", encoding="utf-8") as f:
            await f.write(html)
        paths[n] = path
    return paths
''',
        "write_not_awaited": '''
async def save_pages(pages, folder, open_file):
    async def save(n, html):
        path = Path(folder) / f"page_{n}.html"
        async with open_file(path, "w", encoding="utf-8") as f:
            f.write(html)
        return n, path

    return dict(await asyncio.gather(*(save(n, html) for n, html in pages.items())))
''',
        "wrong_file_names": '''
async def save_pages(pages, folder, open_file):
    async def save(n, html):
        path = Path(folder) / f"{n}.html"
        async with open_file(path, "w", encoding="utf-8") as f:
            await f.write(html)
        return n, path

    return dict(await asyncio.gather(*(save(n, html) for n, html in pages.items())))
''',
        "opened_then_path_write_text": '''
async def save_pages(pages, folder, open_file):
    async def save(n, html):
        path = Path(folder) / f"page_{n}.html"
        async with open_file(path, "w", encoding="utf-8"):
            path.write_text(html, encoding="utf-8")
        return n, path

    return dict(await asyncio.gather(*(save(n, html) for n, html in pages.items())))
''',
        "aiofiles_instead_of_open_file": '''
async def save_pages(pages, folder, open_file):
    async def save(n, html):
        path = Path(folder) / f"page_{n}.html"
        async with aiofiles.open(path, "w", encoding="utf-8") as f:
            await f.write(html)
        return n, path

    return dict(await asyncio.gather(*(save(n, html) for n, html in pages.items())))
''',
    },
    "summarize": {
        "counts_characters": '''
def summarize(pages, errors, stats):
    return {
        "pages": len(pages),
        "bytes": sum(len(html) for html in pages.values()),
        "errors": {n: exc.status if isinstance(exc, aiohttp.ClientResponseError)
                   else type(exc).__name__ for n, exc in errors.items()},
        "max_in_flight": stats["max_in_flight_per_route"].get("pages", 0),
    }
''',
        "max_over_all_routes": '''
def summarize(pages, errors, stats):
    return {
        "pages": len(pages),
        "bytes": sum(len(html.encode("utf-8")) for html in pages.values()),
        "errors": {n: exc.status if isinstance(exc, aiohttp.ClientResponseError)
                   else type(exc).__name__ for n, exc in errors.items()},
        "max_in_flight": stats["max_in_flight"],
    }
''',
        "error_messages_as_reasons": '''
def summarize(pages, errors, stats):
    return {
        "pages": len(pages),
        "bytes": sum(len(html.encode("utf-8")) for html in pages.values()),
        "errors": {n: str(exc) for n, exc in errors.items()},
        "max_in_flight": stats["max_in_flight_per_route"].get("pages", 0),
    }
''',
    },
}
