"""Typical wrong answers for 03_gather: each must score 0 on its own exercise."""

WRONG = {
    "temperatures": {
        "append_in_completion_order": '''
async def temperatures(cities):
    results = []

    async def fetch_one(city):
        results.append(await get_temperature(city))

    await asyncio.gather(*(fetch_one(city) for city in cities))
    return results
''',
        "as_completed_order": '''
async def temperatures(cities):
    results = []
    for next_one in asyncio.as_completed([get_temperature(city) for city in cities]):
        results.append(await next_one)
    return results
''',
        "sequential_awaits": '''
async def temperatures(cities):
    return [await get_temperature(city) for city in cities]
''',
    },
    "fetch_prices": {
        "sequential_awaits": '''
async def fetch_prices(item_ids):
    prices = {}
    async with aiohttp.ClientSession() as session:
        for item_id in item_ids:
            async with session.get(server.url(f"/items/{item_id}", delay=0.2)) as response:
                prices[item_id] = (await response.json())["price"]
    return prices
''',
        "session_per_request": '''
async def fetch_one_price(item_id):
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url(f"/items/{item_id}", delay=0.2)) as response:
            return (await response.json())["price"]


async def fetch_prices(item_ids):
    prices = await asyncio.gather(*(fetch_one_price(i) for i in item_ids))
    return dict(zip(item_ids, prices))
''',
        "blocking_urllib": '''
import json
import urllib.request


async def fetch_prices(item_ids):
    prices = {}
    for item_id in item_ids:
        with urllib.request.urlopen(server.url(f"/items/{item_id}", delay=0.2)) as answer:
            prices[item_id] = json.load(answer)["price"]
    return prices
''',
    },
    "fetch_prices_safely": {
        "no_return_exceptions": '''
async def fetch_prices_safely(item_ids):
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids))
    return dict(zip(item_ids, results)), []
''',
        "except_around_gather": '''
async def fetch_prices_safely(item_ids):
    async with aiohttp.ClientSession() as session:
        try:
            results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids))
        except aiohttp.ClientError:
            return {}, list(item_ids)
    return dict(zip(item_ids, results)), []
''',
        "failures_dropped_before_zip": '''
async def fetch_prices_safely(item_ids):
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids),
                                       return_exceptions=True)
    good = [r for r in results if not isinstance(r, Exception)]
    failed = [i for i, r in zip(item_ids, results) if isinstance(r, Exception)]
    return dict(zip(item_ids, good)), failed
''',
        "sequential_try_except": '''
async def fetch_prices_safely(item_ids):
    prices, failed = {}, []
    async with aiohttp.ClientSession() as session:
        for item_id in item_ids:
            try:
                prices[item_id] = await fetch_price(session, item_id)
            except aiohttp.ClientError:
                failed.append(item_id)
    return prices, failed
''',
    },
    "first_answer": {
        "gather_then_fastest": '''
async def first_answer(mirrors):
    answers = await asyncio.gather(*(ask_mirror(n, s) for n, s in mirrors.items()))
    return min(zip(mirrors.values(), answers))[1]
''',
        "wait_without_cancel": '''
async def first_answer(mirrors):
    tasks = [asyncio.create_task(ask_mirror(n, s)) for n, s in mirrors.items()]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    return done.pop().result()
''',
        "as_completed_break": '''
async def first_answer(mirrors):
    for next_answer in asyncio.as_completed([ask_mirror(n, s) for n, s in mirrors.items()]):
        return await next_answer
''',
        "returns_the_task": '''
async def first_answer(mirrors):
    tasks = [asyncio.create_task(ask_mirror(n, s)) for n, s in mirrors.items()]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return done.pop()
''',
    },
}
