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
    },
    "make_breakfast": {
        "forgotten_await": '''
async def make_breakfast():
    water = boil_water(0.3)
    toast = await toast_bread(0.1)
    return [water, toast]
''',
    },
    "download_all": {
        "sequential_awaits": '''
async def download_all(delays):
    results = []
    for delay in delays:
        await asyncio.sleep(delay)
        results.append(f"file after {delay} s")
    return results
''',
        "blocking_sleep": '''
async def download_all(delays):
    results = []
    for delay in delays:
        time.sleep(delay)
        results.append(f"file after {delay} s")
    return results
''',
    },
    "prediction": {
        "call_starts_the_coroutine": '''
prediction = ["A start", "B start", "B end", "A end"]
predicted_seconds = 0.3
''',
    },
}
