"""A title in operation: per achievement, how many players unlocked it and its
rarity, exactly as the API's `rarity` says."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from laurels.portal.pages.titles import TitleId, load_draft
from laurels.portal.web import Viewer, portal_runtime, render
from laurels.progress import service as progress
from laurels.titles import is_sandbox_name
from laurels.titles import service as titles
from laurels.wire.rarity import rarity

router = APIRouter()


@router.get("/titles/{title_id}/operate", include_in_schema=False)
async def operate(
    request: Request,
    session: Viewer,
    title_id: TitleId,
    sandbox: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    document = await load_draft(request, title_id)
    rt = portal_runtime(request)
    async with rt.db.read() as conn:
        summary = next(t for t in await titles.list_titles(conn) if t.title_id == title_id)
    sandboxes = list(summary.published)
    chosen = sandbox if sandbox in sandboxes else (sandboxes[0] if sandboxes else None)
    rows = []
    if chosen is not None and is_sandbox_name(chosen):
        published = await rt.catalog.by_title(chosen, title_id)
        if published is not None:
            async with rt.db.read() as conn:
                stats = await progress.read_stats(conn, sandbox=chosen, scids=[published.scid])
            for achievement in published.achievements:
                unlocks, players = stats.of(published.scid, achievement.id)
                category, percent = rarity(unlocks, players)
                rows.append((achievement, unlocks, players, category, percent))
    return render(
        request,
        "operating/stats.html",
        title_id=title_id,
        title_name=document["title"]["name"],
        area="operate",
        sandboxes=sandboxes,
        sandbox=chosen,
        rows=rows,
    )
