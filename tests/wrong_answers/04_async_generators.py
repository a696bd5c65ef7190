"""Typical wrong answers for 04_async_generators: each must score 0 on its own exercise."""

WRONG = {
    "throttled": {
        "collects_all_first": '''
async def throttled(items, interval):
    ready = []
    for item in items:
        await asyncio.sleep(interval)
        ready.append(item)
    for item in ready:
        yield item
''',
        "blocking_time_sleep": '''
async def throttled(items, interval):
    for item in items:
        time.sleep(interval)
        yield item
''',
        "returns_a_list": '''
async def throttled(items, interval):
    result = []
    for item in items:
        await asyncio.sleep(interval)
        result.append(item)
    return result
''',
        "yields_before_waiting": '''
async def throttled(items, interval):
    for item in items:
        yield item
        await asyncio.sleep(interval)
''',
    },
    "Countdown": {
        "no_stop_async_iteration": '''
class Countdown:
    def __init__(self, start, delay):
        self.current = start
        self.delay = delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current > 0:
            await asyncio.sleep(self.delay)
            self.current -= 1
            return self.current + 1
''',
        "raises_stop_iteration": '''
class Countdown:
    def __init__(self, start, delay):
        self.current = start
        self.delay = delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current <= 0:
            raise StopIteration
        await asyncio.sleep(self.delay)
        self.current -= 1
        return self.current + 1
''',
        "async_aiter": '''
class Countdown:
    def __init__(self, start, delay):
        self.current = start
        self.delay = delay

    async def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(self.delay)
        self.current -= 1
        return self.current + 1
''',
    },
    "transaction": {
        "no_try_finally": '''
@asynccontextmanager
async def transaction(log):
    await asyncio.sleep(0.1)
    log.append("begin")
    yield
    log.append("commit")
    await asyncio.sleep(0.05)
    log.append("close")
''',
        "swallows_the_exception": '''
@asynccontextmanager
async def transaction(log):
    await asyncio.sleep(0.1)
    log.append("begin")
    try:
        yield
        log.append("commit")
    except BaseException:
        log.append("rollback")
    finally:
        await asyncio.sleep(0.05)
        log.append("close")
''',
        "close_only_in_except": '''
@asynccontextmanager
async def transaction(log):
    await asyncio.sleep(0.1)
    log.append("begin")
    try:
        yield
    except Exception:
        log.append("rollback")
        await asyncio.sleep(0.05)
        log.append("close")
        raise
    log.append("commit")
    await asyncio.sleep(0.05)
    log.append("close")
''',
        "except_exception_misses_cancellation": '''
@asynccontextmanager
async def transaction(log):
    await asyncio.sleep(0.1)
    log.append("begin")
    try:
        yield
        log.append("commit")
    except Exception:
        log.append("rollback")
        raise
    finally:
        await asyncio.sleep(0.05)
        log.append("close")
''',
        "swallows_the_cancellation": '''
@asynccontextmanager
async def transaction(log):
    await asyncio.sleep(0.1)
    log.append("begin")
    try:
        yield
    except asyncio.CancelledError:
        log.append("rollback")
    except Exception:
        log.append("rollback")
        raise
    else:
        log.append("commit")
    finally:
        await asyncio.sleep(0.05)
        log.append("close")
''',
    },
    "read_files": {
        "one_after_another": '''
async def read_files(open_file, paths):
    texts = []
    for path in paths:
        async with open_file(path) as f:
            texts.append(await f.read())
    return texts
''',
        "blocking_builtin_open": '''
async def read_one(path):
    with open(path) as f:
        return f.read()


async def read_files(open_file, paths):
    return list(await asyncio.gather(*(read_one(path) for path in paths)))
''',
        "order_of_completion": '''
async def read_files(open_file, paths):
    async def read_one(path):
        async with open_file(path) as f:
            return await f.read()

    return [await done for done in asyncio.as_completed([read_one(p) for p in paths])]
''',
        "opens_through_open_file_then_reads_with_blocking_open": '''
async def read_files(open_file, paths):
    async def read_one(path):
        async with open_file(path) as f:
            pass
        with open(path) as blocking:  # the built-in open() blocks the event loop
            return blocking.read()

    return list(await asyncio.gather(*(read_one(path) for path in paths)))
''',
        "aiofiles_module_not_the_given_opener": '''
from aiofiles import open as aopen


async def read_files(open_file, paths):
    async def read_one(path):
        async with aopen(path) as f:
            return await f.read()

    return list(await asyncio.gather(*(read_one(path) for path in paths)))
''',
        "never_closes_the_files": '''
async def read_files(open_file, paths):
    async def read_one(path):
        f = await open_file(path)
        return await f.read()

    return list(await asyncio.gather(*(read_one(path) for path in paths)))
''',
    },
    "stream_lines": {
        "waits_for_whole_body": '''
async def stream_lines(session, url):
    async with session.get(url) as response:
        text = await response.text()
    for line in text.splitlines():
        yield line
''',
        "returns_a_list": '''
async def stream_lines(session, url):
    async with session.get(url) as response:
        return [raw.decode().rstrip("\\n") async for raw in response.content]
''',
        "yields_bytes": '''
async def stream_lines(session, url):
    async with session.get(url) as response:
        async for raw in response.content:
            yield raw
''',
        "response_left_open": '''
async def stream_lines(session, url):
    response = await session.get(url)
    async for raw in response.content:
        yield raw.decode().rstrip("\\n")
''',
    },
}
