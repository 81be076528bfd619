"""Settings from the environment: every bad value is refused naming its variable."""

from __future__ import annotations

import pytest

from laurels.errors import ConfigurationError
from laurels.serve import share_commits
from laurels.settings import Settings

URL = "sqlite:///x.db"


def test_real_time_settings_are_read() -> None:
    loaded = Settings.from_env(
        {
            "LAURELS_RTA_MAX_SUBSCRIPTIONS": "5",
            "LAURELS_RTA_BUFFER_EVENTS": "16",
            "LAURELS_RTA_PING_SECONDS": "2.5",
            "LAURELS_EVENT_POLL_SECONDS": "0.1",
            "LAURELS_EVENT_RETENTION_SECONDS": "60",
            "LAURELS_PROGRESS_EVENT_RETENTION_SECONDS": "30",
            "LAURELS_FAULT_EXIT_AFTER_UNLOCK_COMMIT": "yes",
        },
        database_url=URL,
    )
    assert (loaded.rta_max_subscriptions, loaded.rta_buffer_events) == (5, 16)
    assert (loaded.rta_ping_seconds, loaded.event_poll_seconds) == (2.5, 0.1)
    assert (loaded.event_retention_seconds, loaded.progress_event_retention_seconds) == (60, 30)
    assert loaded.fault_exit_after_unlock_commit is True
    assert Settings.from_env({}, database_url=URL).fault_exit_after_unlock_commit is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LAURELS_RTA_MAX_SUBSCRIPTIONS", "0"),
        ("LAURELS_RTA_BUFFER_EVENTS", "-1"),
        ("LAURELS_RTA_BUFFER_EVENTS", "many"),
        ("LAURELS_RTA_PING_SECONDS", "0"),
        ("LAURELS_EVENT_POLL_SECONDS", "-0.5"),
        ("LAURELS_EVENT_RETENTION_SECONDS", "0"),
        ("LAURELS_PROGRESS_EVENT_RETENTION_SECONDS", "1.5"),
        ("LAURELS_FAULT_EXIT_AFTER_UNLOCK_COMMIT", "maybe"),
        ("LAURELS_TOKEN_LEEWAY_SECONDS", "-1"),
        ("LAURELS_TOKEN_LEEWAY_SECONDS", "601"),
        ("LAURELS_TOKEN_LEEWAY_SECONDS", "2.5"),
        ("LAURELS_WRITER_COMMITTERS", "0"),
        ("LAURELS_MAX_REQUESTS_IN_FLIGHT", "0"),
        ("LAURELS_MAX_REQUESTS_IN_FLIGHT", "lots"),
        ("LAURELS_BODY_TIMEOUT_SECONDS", "0"),
    ],
)
def test_bad_values_are_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.from_env({variable: value}, database_url=URL)


def test_request_bounds_are_read() -> None:
    loaded = Settings.from_env(
        {"LAURELS_MAX_REQUESTS_IN_FLIGHT": "32", "LAURELS_BODY_TIMEOUT_SECONDS": "2.5"},
        database_url=URL,
    )
    assert (loaded.max_requests_in_flight, loaded.body_timeout_seconds) == (32, 2.5)
    defaults = Settings.from_env({}, database_url=URL)
    assert (defaults.max_requests_in_flight, defaults.body_timeout_seconds) == (128, 30.0)


def test_token_settings_are_read() -> None:
    defaults = Settings.from_env({}, database_url=URL)
    assert (defaults.token_leeway_seconds, defaults.trusted_audience) == (30, None)
    loaded = Settings.from_env(
        {"LAURELS_TOKEN_LEEWAY_SECONDS": "0", "LAURELS_TRUSTED_AUDIENCE": "https://game.example"},
        database_url=URL,
    )
    assert (loaded.token_leeway_seconds, loaded.trusted_audience) == (0, "https://game.example")


@pytest.mark.parametrize(
    ("workers", "environ", "committers"),
    [
        (1, {}, 2),
        (2, {}, 1),
        (4, {}, 1),
        (4, {"LAURELS_WRITER_COMMITTERS": "3"}, 3),  # the operator's choice stays
    ],
)
def test_serve_gives_each_of_several_workers_one_committer(
    workers: int, environ: dict[str, str], committers: int
) -> None:
    share_commits(workers, environ)
    assert Settings.from_env(environ, database_url=URL).writer_committers == committers
