"""Typical wrong answers for 07_choosing_concurrency: each must score 0 on its own exercise."""

WRONG = {
    "crawl_politely": {
        "blocking_time_sleep": '''
async def crawl_politely(urls, pause):
    pages = []
    for url in urls:
        pages.append(await fetch_page(url))
        time.sleep(pause)
    return pages
''',
        "sleep_not_awaited": '''
async def crawl_politely(urls, pause):
    pages = []
    for url in urls:
        pages.append(await fetch_page(url))
        asyncio.sleep(pause)
    return pages
''',
        "no_pause": '''
async def crawl_politely(urls, pause):
    return [await fetch_page(url) for url in urls]
''',
        "pages_at_once": '''
async def crawl_politely(urls, pause):
    pages = await asyncio.gather(*(fetch_page(url) for url in urls))
    await asyncio.sleep(pause)
    return list(pages)
''',
    },
    "save_all": {
        "forgotten_await": '''
async def save_all(db, items):
    for key, value in items.items():
        save(db, key, value)
    return len(items)
''',
        "gather_not_awaited": '''
async def save_all(db, items):
    asyncio.gather(*(save(db, key, value) for key, value in items.items()))
    return len(items)
''',
        "tasks_never_awaited": '''
async def save_all(db, items):
    for key, value in items.items():
        asyncio.create_task(save(db, key, value))
    return len(items)
''',
        "one_at_a_time": '''
async def save_all(db, items):
    for key, value in items.items():
        await save(db, key, value)
    return len(items)
''',
    },
    "check_stock": {
        "everything_at_once": '''
async def check_stock(urls):
    async with aiohttp.ClientSession() as session:

        async def check(url):
            async with session.get(url) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(check(url) for url in urls)))
''',
        "semaphore_per_request": '''
async def check_stock(urls):
    async with aiohttp.ClientSession() as session:

        async def check(url):
            async with asyncio.Semaphore(5):
                async with session.get(url) as response:
                    await response.read()
                    return response.status

        return list(await asyncio.gather(*(check(url) for url in urls)))
''',
        "one_at_a_time": '''
async def check_stock(urls):
    statuses = []
    async with aiohttp.ClientSession() as session:
        for url in urls:
            async with session.get(url) as response:
                await response.read()
                statuses.append(response.status)
    return statuses
''',
    },
    "order_summaries": {
        "async_def_wrapper": '''
async def order_summaries(order_ids):
    async def summary(order_id):
        order = await fetch_order(order_id)
        name = await lookup_customer(order["customer"])
        return f"order {order_id}: {name}"

    return list(await asyncio.gather(*(summary(order_id) for order_id in order_ids)))
''',
        "to_thread_given_the_result": '''
async def order_summaries(order_ids):
    async def summary(order_id):
        order = await fetch_order(order_id)
        name = await asyncio.to_thread(legacy_lookup(order["customer"]))
        return f"order {order_id}: {name}"

    return list(await asyncio.gather(*(summary(order_id) for order_id in order_ids)))
''',
        "one_order_at_a_time": '''
async def order_summaries(order_ids):
    summaries = []
    for order_id in order_ids:
        order = await fetch_order(order_id)
        name = await asyncio.to_thread(legacy_lookup, order["customer"])
        summaries.append(f"order {order_id}: {name}")
    return summaries
''',
        "lookups_one_at_a_time": '''
async def order_summaries(order_ids):
    orders = await asyncio.gather(*(fetch_order(order_id) for order_id in order_ids))
    summaries = []
    for order in orders:
        name = await asyncio.to_thread(legacy_lookup, order["customer"])
        summaries.append(f"order {order['id']}: {name}")
    return summaries
''',
    },
}
