"""Icons a studio uploaded as PNG files, served by content hash (immutable)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from laurels.errors import NotFound
from laurels.titles.service import read_media
from laurels.web.errors import error_responses

router = APIRouter(tags=["media"])
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@router.get(
    "/media/{sha256}.png",
    response_class=Response,
    responses={
        200: {
            "description": "The PNG file",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        },
        **error_responses(404, 503),
    },
)
async def media(
    request: Request,
    sha256: Annotated[
        str,
        Path(
            description="The file's SHA-256, lower-case hex",
            json_schema_extra={"pattern": SHA256.pattern},
        ),
    ],
) -> Response:
    if not SHA256.fullmatch(sha256):
        raise NotFound("no such image")
    async with request.app.state.runtime.db.read() as conn:
        data = await read_media(conn, sha256=sha256)
    return Response(
        data,
        media_type="image/png",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
