"""Typical wrong answers for 06_semaphores: each must score 0 on its own exercise."""

WRONG = {
    "map_limited": {
        "no_semaphore": '''
async def map_limited(func, items, limit):
    return list(await asyncio.gather(*(func(item) for item in items)))
''',
        "semaphore_per_call": '''
async def map_limited(func, items, limit):
    async def call(item):
        async with asyncio.Semaphore(limit):
            return await func(item)

    return list(await asyncio.gather(*(call(item) for item in items)))
''',
        "semaphore_around_gather": '''
async def map_limited(func, items, limit):
    semaphore = asyncio.Semaphore(limit)
    async with semaphore:
        return list(await asyncio.gather(*(func(item) for item in items)))
''',
        "sequential_under_semaphore": '''
async def map_limited(func, items, limit):
    semaphore = asyncio.Semaphore(limit)
    results = []
    for item in items:
        async with semaphore:
            results.append(await func(item))
    return results
''',
        "batches_of_limit": '''
async def map_limited(func, items, limit):
    results = []
    for start in range(0, len(items), limit):
        batch = items[start:start + limit]
        results += await asyncio.gather(*(func(item) for item in batch))
    return results
''',
        "results_in_finish_order": '''
async def map_limited(func, items, limit):
    semaphore = asyncio.Semaphore(limit)

    async def call(item):
        async with semaphore:
            return await func(item)

    return [await result for result in asyncio.as_completed([call(item) for item in items])]
''',
        "module_level_semaphore": '''
shared_semaphore = asyncio.Semaphore(5)


async def map_limited(func, items, limit):
    async def call(item):
        async with shared_semaphore:
            return await func(item)

    return list(await asyncio.gather(*(call(item) for item in items)))
''',
    },
    "fetch_all_limited": {
        "unlimited": '''
async def fetch_all_limited(urls, limit):
    async with aiohttp.ClientSession() as session:

        async def fetch(url):
            async with session.get(url) as response:
                return await response.json()

        return list(await asyncio.gather(*(fetch(url) for url in urls)))
''',
        "fixed_limit_of_five": '''
async def fetch_all_limited(urls, limit):
    semaphore = asyncio.Semaphore(5)
    async with aiohttp.ClientSession() as session:

        async def fetch(url):
            async with semaphore:
                async with session.get(url) as response:
                    return await response.json()

        return list(await asyncio.gather(*(fetch(url) for url in urls)))
''',
        "session_per_url": '''
async def fetch_all_limited(urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def fetch(url):
        async with semaphore:
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as response:
                    return await response.json()

    return list(await asyncio.gather(*(fetch(url) for url in urls)))
''',
        "one_at_a_time": '''
async def fetch_all_limited(urls, limit):
    results = []
    async with aiohttp.ClientSession() as session:
        for url in urls:
            async with session.get(url) as response:
                results.append(await response.json())
    return results
''',
    },
    "pool_map": {
        "workers_never_stopped": '''
async def pool_map(func, items, workers):
    queue = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))
    results = [None] * len(items)

    async def worker():
        while True:
            index, item = await queue.get()
            results[index] = await func(item)
            queue.task_done()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await queue.join()
    return results
''',
        "one_sentinel_for_all_workers": '''
async def pool_map(func, items, workers):
    queue = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))
    queue.put_nowait(None)
    results = [None] * len(items)

    async def worker():
        while True:
            job = await queue.get()
            if job is None:
                return
            index, item = job
            results[index] = await func(item)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results
''',
        "forgot_task_done": '''
async def pool_map(func, items, workers):
    queue = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))
    results = [None] * len(items)

    async def worker():
        while True:
            index, item = await queue.get()
            results[index] = await func(item)

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await queue.join()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return results
''',
        "one_task_per_item": '''
async def pool_map(func, items, workers):
    semaphore = asyncio.Semaphore(workers)

    async def call(item):
        async with semaphore:
            return await func(item)

    return list(await asyncio.gather(*(call(item) for item in items)))
''',
        "results_in_finish_order": '''
async def pool_map(func, items, workers):
    queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results = []

    async def worker():
        while True:
            item = await queue.get()
            try:
                results.append(await func(item))
            finally:
                queue.task_done()

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await queue.join()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return results
''',
    },
    "deposit": {
        "no_lock": '''
async def deposit(read_balance, write_balance, account, amount, lock):
    balance = await read_balance(account)
    await write_balance(account, balance + amount)
''',
        "lock_around_read_only": '''
async def deposit(read_balance, write_balance, account, amount, lock):
    async with lock:
        balance = await read_balance(account)
    await write_balance(account, balance + amount)
''',
        "lock_around_write_only": '''
async def deposit(read_balance, write_balance, account, amount, lock):
    balance = await read_balance(account)
    async with lock:
        await write_balance(account, balance + amount)
''',
        "new_lock_per_call": '''
async def deposit(read_balance, write_balance, account, amount, lock):
    async with asyncio.Lock():
        balance = await read_balance(account)
        await write_balance(account, balance + amount)
''',
        "notebook_helpers_not_the_given_ones": '''
async def deposit(read, write, account, amount, lock):
    async with lock:
        balance = await read_balance(account)
        await write_balance(account, balance + amount)
''',
        "writes_the_dict_directly": '''
async def deposit(read_balance, write_balance, account, amount, lock):
    async with lock:
        balance = await read_balance(account)
        await asyncio.sleep(0.02)
        account["balance"] = balance + amount
''',
    },
}
