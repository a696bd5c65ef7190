"""Typical wrong answers for 01_coroutines: each must score 0 on its own exercise."""

WRONG = {
    "brew_coffee": {
        "blocking_time_sleep": '''
async def brew_coffee(order, seconds):
    time.sleep(seconds)
    return f"{order} is ready"
''',
        "plain_function": '''
def brew_coffee(order, seconds):
    time.sleep(seconds)
    return f"{order} is ready"
''',
        "no_wait": '''
async def brew_coffee(order, seconds):
    return f"{order} is ready"
''',
        "hard_coded_order": '''
async def brew_coffee(order, seconds):
    await asyncio.sleep(seconds)
    return "latte is ready"
''',
    },
    "make_breakfast": {
        "forgotten_await": '''
async def make_breakfast(boil, toast):
    water = boil(0.3)
    bread = await toast(0.1)
    return [water, bread]
''',
        "literal_results_one_sleep": '''
async def make_breakfast(boil, toast):
    await asyncio.sleep(0.4)
    return ["water boiled", "bread toasted"]
''',
        "global_helpers": '''
async def make_breakfast(boil, toast):
    water = await boil_water(0.3)
    bread = await toast_bread(0.1)
    return [water, bread]
''',
    },
    "download_all": {
        "sequential_awaits": '''
async def download_all(download, delays):
    results = []
    for delay in delays:
        results.append(await download(delay))
    return results
''',
        "blocking_sleep": '''
async def download_all(download, delays):
    results = []
    for delay in delays:
        time.sleep(delay)
        results.append(f"file after {delay} s")
    return results
''',
        "one_sleep_made_up_results": '''
async def download_all(download, delays):
    await asyncio.sleep(max(delays, default=0))
    return [f"file after {delay} s" for delay in delays]
''',
    },
    "prediction": {
        "call_starts_the_coroutine": '''
prediction = ["A start", "B start", "B end", "A end"]
predicted_seconds = 0.3
''',
        "right_order_overlapping_time": '''
prediction = ["B start", "B end", "A start", "A end"]
predicted_seconds = 0.3
''',
        "written_order": '''
prediction = ["A start", "A end", "B start", "B end"]
predicted_seconds = 0.4
''',
    },
}
