"""Titles and their achievement configuration: drafts, published versions, media.

Other features import this face (the published catalog and the configuration's
shapes they read) or `titles.service` (importing and publishing configurations),
nothing deeper."""

from laurels.titles.catalog import Catalog, PublishedTitle
from laurels.titles.schemas import (
    INT64_MAX,
    INT64_MIN,
    SECRET_NAME,
    AchievementConfig,
    EventConfig,
    Reward,
    StatConfig,
    is_sandbox_name,
    localized_strings,
)

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "SECRET_NAME",
    "AchievementConfig",
    "Catalog",
    "EventConfig",
    "PublishedTitle",
    "Reward",
    "StatConfig",
    "is_sandbox_name",
    "localized_strings",
]
