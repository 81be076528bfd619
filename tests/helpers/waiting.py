"""Waiting with a deadline: the one `eventually()` of the tests, no sleep-and-hope."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")

POLL_SECONDS = 0.02


@overload
async def eventually(
    predicate: Callable[[], Awaitable[T | None]], timeout: float = ..., *, what: str = ...
) -> T: ...


@overload
async def eventually(
    predicate: Callable[[], T | None], timeout: float = ..., *, what: str = ...
) -> T: ...


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0, *, what: str = "") -> Any:
    """Calls `predicate` (plain or async) until it returns something true and
    returns that; fails with an AssertionError naming `what` (and the last value) once
    `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}: {value!r}"
        await asyncio.sleep(POLL_SECONDS)


def eventually_sync(
    predicate: Callable[[], T | None], timeout: float = 10.0, *, what: str = ""
) -> T:
    """`eventually` for a thread without an event loop (a child process's output, a
    file another process writes): the same contract, sleeping between calls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what or predicate}: {value!r}"
        time.sleep(POLL_SECONDS)


async def answer(
    request: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 10.0
) -> T:
    """Repeats `request` until `done` holds for its answer (a publish reaching the
    service's catalog) and returns that answer; fails at the deadline with the last."""
    last: list[T] = []

    async def attempt() -> bool:
        last[:] = [await request()]
        return done(last[0])

    try:
        await eventually(attempt, timeout, what="an answer")
    except AssertionError:
        text = getattr(last[0], "text", "")
        raise AssertionError(f"gave up waiting: {last[0]!r} {text}") from None
    return last[0]
