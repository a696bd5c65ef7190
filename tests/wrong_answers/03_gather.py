"""Typical wrong answers for 03_gather: each must score 0 on its own exercise."""

WRONG = {
    "temperatures": {
        "append_in_completion_order": '''
async def temperatures(get_temperature, cities):
    results = []

    async def fetch_one(city):
        results.append(await get_temperature(city))

    await asyncio.gather(*(fetch_one(city) for city in cities))
    return results
''',
        "as_completed_order": '''
async def temperatures(get_temperature, cities):
    results = []
    for next_one in asyncio.as_completed([get_temperature(city) for city in cities]):
        results.append(await next_one)
    return results
''',
        "sequential_awaits": '''
async def temperatures(get_temperature, cities):
    return [await get_temperature(city) for city in cities]
''',
        "reads_the_table_without_asking": '''
async def temperatures(get_temperature, cities):
    await asyncio.sleep(max((CITIES[city][0] for city in cities), default=0))
    return [CITIES[city][1] for city in cities]
''',
        "global_helper_not_the_given_one": '''
async def temperatures(get_temperature_given, cities):
    return list(await asyncio.gather(*(get_temperature(city) for city in cities)))
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
        "session_never_closed": '''
async def fetch_prices(item_ids):
    session = aiohttp.ClientSession()

    async def one(item_id):
        async with session.get(server.url(f"/items/{item_id}", delay=0.2)) as response:
            return (await response.json())["price"]

    prices = await asyncio.gather(*(one(i) for i in item_ids))
    return dict(zip(item_ids, prices))
''',
    },
    "fetch_prices_safely": {
        "no_return_exceptions": '''
async def fetch_prices_safely(fetch_price, item_ids):
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids))
    return dict(zip(item_ids, results)), []
''',
        "except_around_gather": '''
async def fetch_prices_safely(fetch_price, item_ids):
    async with aiohttp.ClientSession() as session:
        try:
            results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids))
        except Exception:
            return {}, list(item_ids)
    return dict(zip(item_ids, results)), []
''',
        "failures_dropped_before_zip": '''
async def fetch_prices_safely(fetch_price, item_ids):
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids),
                                       return_exceptions=True)
    good = [r for r in results if not isinstance(r, Exception)]
    failed = [i for i, r in zip(item_ids, results) if isinstance(r, Exception)]
    return dict(zip(item_ids, good)), failed
''',
        "sequential_try_except": '''
async def fetch_prices_safely(fetch_price, item_ids):
    prices, failed = {}, []
    async with aiohttp.ClientSession() as session:
        for item_id in item_ids:
            try:
                prices[item_id] = await fetch_price(session, item_id)
            except Exception:
                failed.append(item_id)
    return prices, failed
''',
        "catches_only_client_response_error": '''
async def fetch_prices_safely(fetch_price, item_ids):
    async def one(session, item_id):
        try:
            return await fetch_price(session, item_id)
        except aiohttp.ClientResponseError as exc:
            return exc

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(one(session, i) for i in item_ids))
    prices, failed = {}, []
    for item_id, result in zip(item_ids, results):
        if isinstance(result, Exception):
            failed.append(item_id)
        else:
            prices[item_id] = result
    return prices, failed
''',
        "catches_only_aiohttp_errors": '''
async def fetch_prices_safely(fetch_price, item_ids):
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(fetch_price(session, i) for i in item_ids),
                                       return_exceptions=True)
    prices, failed = {}, []
    for item_id, result in zip(item_ids, results):
        if isinstance(result, aiohttp.ClientError):
            failed.append(item_id)
        elif isinstance(result, BaseException):
            raise result
        else:
            prices[item_id] = result
    return prices, failed
''',
        "session_per_request": '''
async def fetch_prices_safely(fetch_price, item_ids):
    async def one(item_id):
        async with aiohttp.ClientSession() as session:
            return await fetch_price(session, item_id)

    results = await asyncio.gather(*(one(i) for i in item_ids), return_exceptions=True)
    prices, failed = {}, []
    for item_id, result in zip(item_ids, results):
        if isinstance(result, Exception):
            failed.append(item_id)
        else:
            prices[item_id] = result
    return prices, failed
''',
    },
    "first_answer": {
        "gather_then_fastest": '''
async def first_answer(ask_mirror, mirrors):
    answers = await asyncio.gather(*(ask_mirror(name) for name in mirrors))
    return answers[min(range(len(mirrors)), key=lambda i: MIRROR_SECONDS.get(mirrors[i], 0))]
''',
        "wait_without_cancel": '''
async def first_answer(ask_mirror, mirrors):
    tasks = [asyncio.create_task(ask_mirror(name)) for name in mirrors]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    return done.pop().result()
''',
        "as_completed_break": '''
async def first_answer(ask_mirror, mirrors):
    for next_answer in asyncio.as_completed([ask_mirror(name) for name in mirrors]):
        return await next_answer
''',
        "returns_the_task": '''
async def first_answer(ask_mirror, mirrors):
    tasks = [asyncio.create_task(ask_mirror(name)) for name in mirrors]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return done.pop()
''',
        "asks_only_the_fastest_mirror": '''
async def first_answer(ask_mirror, mirrors):
    fastest = min(mirrors, key=MIRROR_SECONDS.get)
    return await ask_mirror(fastest)
''',
        "cancels_without_waiting": '''
async def first_answer(ask_mirror, mirrors):
    tasks = [asyncio.create_task(ask_mirror(name)) for name in mirrors]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return done.pop().result()
''',
    },
}
