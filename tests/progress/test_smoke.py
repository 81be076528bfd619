from tests.helpers import Api


async def test_unlock_then_not_modified(api: Api) -> None:
    first = await api.update([("1", 100)])
    assert first.status_code == 200
    assert first.content == b""
    again = await api.update([("1", 100)])
    assert again.status_code == 304
    page = (await api.achievements()).json()
    assert page["achievements"][0]["progressState"] == "Achieved"
