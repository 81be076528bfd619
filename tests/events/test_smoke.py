from tests.helpers.events import kills, read_stats, send_events
from tests.helpers.service import Api


async def test_three_events_of_ten_unlock(events_api: Api) -> None:
    for _ in range(3):
        answer = await send_events(events_api, [kills(10)])
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": 1, "duplicates": 0}
    assert await read_stats(events_api) == {"Kills": 30}
    page = (await events_api.achievements()).json()
    first = page["achievements"][0]
    assert first["progressState"] == "Achieved", first
    print(first)
