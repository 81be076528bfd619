"""Titles and their achievement configuration: drafts, published versions, media.

Other features import this face (the published catalog and the configuration's
shapes they read) or `titles.service` (importing and publishing configurations),
nothing deeper."""

from laurels.titles.catalog import Catalog, PublishedTitle
from laurels.titles.promotion import (
    RETAIL,
    ConfigDiff,
    ConfirmationNeeded,
    Promotion,
    PublishedVersion,
    Risk,
    current_version,
    diff_documents,
    draft_revision,
    is_development,
    list_versions,
    promote,
    risky_changes,
)
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
    "RETAIL",
    "SECRET_NAME",
    "AchievementConfig",
    "Catalog",
    "ConfigDiff",
    "ConfirmationNeeded",
    "EventConfig",
    "Promotion",
    "PublishedTitle",
    "PublishedVersion",
    "Reward",
    "Risk",
    "StatConfig",
    "current_version",
    "diff_documents",
    "draft_revision",
    "is_development",
    "is_sandbox_name",
    "list_versions",
    "localized_strings",
    "promote",
    "risky_changes",
]
