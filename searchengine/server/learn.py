"""The routes of learning from use: events in, recommendations out.

The user is who the request's token names (`security.Guard`); without tokens, the
one local user. Events are refused quietly (`recorded: false`) when the server was
started with them turned off.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from searchengine.catalog.events import ACTIONS, MAX_QUERY_CHARS, Action
from searchengine.server.responses import errors
from searchengine.server.search import ItemId, index_of, user_of
from searchengine.server.thumbs import has_thumbnail

router = APIRouter(prefix="/api")


class EventIn(BaseModel):
    """What a person did with a hit."""

    # a JSON number past 2**53 is a float to many readers, the bound itself included
    item: int = Field(ge=1, le=2**53 - 1, description="the hit's `id`")
    action: Action = Field("open", description=f"one of {', '.join(ACTIONS)}")
    query: str | None = Field(None, max_length=MAX_QUERY_CHARS, description="the search")
    rank: int | None = Field(None, ge=1, le=10_000, description="1: the first hit")


@router.post(
    "/events",
    summary="Record what the person did with a hit (kept in this index's catalog only)",
    responses=errors(403, 404, 413, 422, e404="no item by that id"),
)
def record(request: Request, event: EventIn) -> dict[str, Any]:
    index = index_of(request)
    if index.item(event.item) is None:
        raise HTTPException(404, f"no item {event.item}")
    done = index.record(user_of(request), event.item, event.action, event.query, rank=event.rank)
    return {"recorded": done is not None, "user": user_of(request)}


def _with_thumbs(out: dict[str, Any]) -> dict[str, Any]:
    for item in out["items"]:
        item["thumb_url"] = (
            f"/api/thumbs/{item['id']}" if has_thumbnail(item["kind"], item["path"]) else None
        )
    return out


@router.get(
    "/recommend",
    summary="Items for the person asking, learned from what people opened",
    description="`basis`: history (their own events), popular (none of theirs yet), "
    "none (no events at all).",
    responses=errors(422),
)
def recommend(request: Request, k: Annotated[int, Query(ge=1, le=100)] = 10) -> dict[str, Any]:
    return _with_thumbs(index_of(request).recommend(user_of(request), k=k).to_json())


@router.get(
    "/items/{item_id}/opened-with",
    summary="The items most often opened with this one",
    responses=errors(404, 422, e404="no item by that id"),
)
def opened_with(
    request: Request, item_id: ItemId, k: Annotated[int, Query(ge=1, le=100)] = 10
) -> dict[str, Any]:
    index = index_of(request)
    if index.item(item_id) is None:
        raise HTTPException(404, f"no item {item_id}")
    return _with_thumbs(index.opened_with(item_id, k=k).to_json())
