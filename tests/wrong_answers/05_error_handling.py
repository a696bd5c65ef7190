"""Typical wrong answers for 05_error_handling: each must score 0 on its own exercise."""

WRONG = {
    "validate_batch": {
        "except_exception_group_message": '''
async def validate_batch(op, items):
    try:
        async with asyncio.TaskGroup() as tg:
            for item in items:
                tg.create_task(op(item))
    except Exception as exc:
        return [str(exc)]
    return []
''',
        "only_the_first_error": '''
async def validate_batch(op, items):
    messages = []
    try:
        async with asyncio.TaskGroup() as tg:
            for item in items:
                tg.create_task(op(item))
    except* ValueError as group:
        messages = [str(group.exceptions[0])]
    return messages
''',
        "gather_does_not_cancel": '''
async def validate_batch(op, items):
    outcomes = await asyncio.gather(*(op(item) for item in items), return_exceptions=True)
    return sorted(str(o) for o in outcomes if isinstance(o, ValueError))
''',
        "catch_inside_each_task": '''
async def validate_batch(op, items):
    messages = []

    async def check(item):
        try:
            await op(item)
        except ValueError as exc:
            messages.append(str(exc))

    async with asyncio.TaskGroup() as tg:
        for item in items:
            tg.create_task(check(item))
    return sorted(messages)
''',
        "not_sorted": '''
async def validate_batch(op, items):
    messages = []
    try:
        async with asyncio.TaskGroup() as tg:
            for item in items:
                tg.create_task(op(item))
    except* ValueError as group:
        messages = [str(exc) for exc in group.exceptions]
    return messages
''',
        "return_inside_except_star": '''
async def validate_batch(op, items):
    try:
        async with asyncio.TaskGroup() as tg:
            for item in items:
                tg.create_task(op(item))
    except* ValueError as group:
        return sorted(str(exc) for exc in group.exceptions)
    return []
''',
        "except_star_everything": '''
async def validate_batch(op, items):
    messages = []
    try:
        async with asyncio.TaskGroup() as tg:
            for item in items:
                tg.create_task(op(item))
    except* Exception as group:
        messages = sorted(str(exc) for exc in group.exceptions)
    return messages
''',
    },
    "fetch_with_fallback": {
        "no_timeout_checks_afterwards": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await fetch()
    if loop.time() - start > seconds:
        return fallback
    return result
''',
        "blocking_time_sleep": '''
import time


async def fetch_with_fallback(fetch, seconds, fallback):
    time.sleep(seconds)
    return fallback
''',
        "catch_inside_timeout_block": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    async with asyncio.timeout(seconds):
        try:
            return await fetch()
        except TimeoutError:
            return fallback
''',
        "catch_every_exception": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    try:
        return await asyncio.wait_for(fetch(), timeout=seconds)
    except Exception:
        return fallback
''',
        "wait_without_cancelling": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    task = asyncio.create_task(fetch())
    done, pending = await asyncio.wait([task], timeout=seconds)
    if task in done:
        return task.result()
    return fallback
''',
        "shielded_fetch_keeps_running": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    task = asyncio.ensure_future(fetch())
    try:
        return await asyncio.wait_for(asyncio.shield(task), timeout=seconds)
    except TimeoutError:
        return fallback
''',
    },
    "download": {
        "swallows_cancellation": '''
async def download(log, seconds):
    log.append("open connection")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        log.append("close connection")
        return "cancelled"
    log.append("downloaded")
    log.append("close connection")
    return "downloaded"
''',
        "except_exception_misses_cancel": '''
async def download(log, seconds):
    log.append("open connection")
    try:
        await asyncio.sleep(seconds)
        log.append("downloaded")
    except Exception:
        log.append("close connection")
        raise
    log.append("close connection")
    return "downloaded"
''',
        "no_cleanup_on_cancel": '''
async def download(log, seconds):
    log.append("open connection")
    await asyncio.sleep(seconds)
    log.append("downloaded")
    log.append("close connection")
    return "downloaded"
''',
        "cleanup_only_when_cancelled": '''
async def download(log, seconds):
    log.append("open connection")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        log.append("close connection")
        raise
    log.append("downloaded")
    return "downloaded"
''',
        "return_in_finally_swallows_cancel": '''
async def download(log, seconds):
    log.append("open connection")
    try:
        await asyncio.sleep(seconds)
        log.append("downloaded")
    finally:
        log.append("close connection")
        return "downloaded"
''',
    },
    "retry": {
        "constant_delay": '''
async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(base_delay)
''',
        "linear_backoff": '''
async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(base_delay * (attempt + 1))
''',
        "returns_the_last_error": '''
async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except Exception as exc:
            if attempt == attempts - 1:
                return exc
            await asyncio.sleep(base_delay * 2 ** attempt)
''',
        "no_delay": '''
async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except Exception:
            if attempt == attempts - 1:
                raise
''',
        "blocking_time_sleep": '''
import time


async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(base_delay * 2 ** attempt)
''',
        "waits_after_last_failure": '''
async def retry(op, attempts, base_delay):
    error = None
    for attempt in range(attempts):
        try:
            return await op()
        except Exception as exc:
            error = exc
            await asyncio.sleep(base_delay * 2 ** attempt)
    raise error
''',
        "returns_none_when_out_of_attempts": '''
async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except Exception:
            if attempt < attempts - 1:
                await asyncio.sleep(base_delay * 2 ** attempt)
''',
        "reuses_one_coroutine": '''
async def retry(op, attempts, base_delay):
    coro = op()
    for attempt in range(attempts):
        try:
            return await coro
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(base_delay * 2 ** attempt)
''',
        "bare_except_retries_cancellation": '''
async def retry(op, attempts, base_delay):
    for attempt in range(attempts):
        try:
            return await op()
        except:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(base_delay * 2 ** attempt)
''',
    },
}
