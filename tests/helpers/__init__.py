"""The tests' one helpers package (test modules never import each other):

- `service`: titles, tokens, update bodies, the `Api` client, a running service;
- `cli`: the one runner of the real `laurels` command;
- `assertions`: the one check of an error answer;
- `waiting`: the one `eventually()`;
- `wire`: response bodies checked against the published models;
- `databases`, `images`: throw-away PostgreSQL databases, PNG files;
- `activity`, `rta`, `webhooks`, `sdk`: what the tests of one feature share.

The common names are re-exported here."""

from tests.helpers.assertions import assert_error
from tests.helpers.cli import laurels, laurels_many
from tests.helpers.databases import (
    create_pg_database,
    drop_pg_database,
    pg_database,
    pg_url,
    postgres_available,
    postgres_installed,
)
from tests.helpers.images import png_bytes
from tests.helpers.service import (
    OTHER_SCID,
    OTHER_TITLE_ID,
    OTHER_XUID,
    SCID,
    TITLE_ID,
    UNKNOWN_SCID,
    XUID,
    Api,
    ServeProcess,
    achievement,
    free_socket,
    publish_config,
    running_service,
    serve_app,
    start_serve,
    title_config,
    token_for,
    update_body,
)
from tests.helpers.waiting import answer, eventually, eventually_sync
from tests.helpers.wire import NEVER, TIME_FORMAT

__all__ = [
    "NEVER",
    "OTHER_SCID",
    "OTHER_TITLE_ID",
    "OTHER_XUID",
    "SCID",
    "TIME_FORMAT",
    "TITLE_ID",
    "UNKNOWN_SCID",
    "XUID",
    "Api",
    "ServeProcess",
    "achievement",
    "answer",
    "assert_error",
    "create_pg_database",
    "drop_pg_database",
    "eventually",
    "eventually_sync",
    "free_socket",
    "laurels",
    "laurels_many",
    "pg_database",
    "pg_url",
    "png_bytes",
    "postgres_available",
    "postgres_installed",
    "publish_config",
    "running_service",
    "serve_app",
    "start_serve",
    "title_config",
    "token_for",
    "update_body",
]
