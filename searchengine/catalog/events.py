"""The catalog's events: what each person did with a hit, the data that use teaches.

A part of `Catalog`. One row per action (`schema.Event`, migration 0015): who, which
item, what, the query and rank it came from, when. Rows never leave the catalog; a
file's rows go with it, and `forget_events` deletes a person's (or everyone's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import delete, func, select

from searchengine.catalog.connection import CatalogConnection
from searchengine.catalog.schema import Event, File

Action = Literal["open", "folder", "copy", "similar"]
# opened the file, opened its folder, copied its path, asked for more like it
ACTIONS: tuple[str, ...] = get_args(Action)
MAX_QUERY_CHARS = 1000  # a longer query is kept cut to this


@dataclass(frozen=True)
class UseEvent:
    """One recorded action: `user` did `action` to item `file_id` at `at` (Unix seconds),
    from `query` at `rank` (1 = the first hit) when it came from a search."""

    id: int
    user: str
    file_id: int
    action: str
    query: str | None
    rank: int | None
    at: float

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "item": self.file_id,
            "action": self.action,
            "query": self.query,
            "rank": self.rank,
            "at": self.at,
        }


class CatalogEvents(CatalogConnection):
    """Writes and reads of events."""

    def add_event(
        self,
        user: str,
        file_id: int,
        action: str,
        query: str | None = None,
        rank: int | None = None,
        at: float | None = None,
    ) -> UseEvent | None:
        """Record one action; None when no file has this id."""
        with self.session() as s:
            if s.get(File, file_id) is None:
                return None
            row = Event(
                user_name=user,
                file_id=file_id,
                action=action,
                query=query[:MAX_QUERY_CHARS] if query else None,
                rank=rank,
                at=time.time() if at is None else at,
            )
            s.add(row)
            s.flush()
            return _event(row)

    def events(self, *, user: str | None = None, after_id: int = 0) -> list[UseEvent]:
        """Every event (of `user`, if given) with an id above `after_id`, oldest first."""
        query = select(Event).where(Event.id > after_id).order_by(Event.id)
        if user is not None:
            query = query.where(Event.user_name == user)
        with self.session() as s:
            return [_event(r) for r in s.scalars(query)]

    def event_stamp(self) -> tuple[int, int]:
        """(how many events, the largest id): changes with every event recorded or forgotten."""
        with self.session() as s:
            count, last = s.execute(select(func.count(Event.id), func.max(Event.id))).one()
        return int(count or 0), int(last or 0)

    def event_users(self) -> dict[str, int]:
        """Each user with events, and how many."""
        with self.session() as s:
            rows = s.execute(
                select(Event.user_name, func.count(Event.id)).group_by(Event.user_name)
            ).all()
        return {str(u): int(n) for u, n in rows}

    def forget_events(self, user: str | None = None) -> int:
        """Delete the events of `user`, or everyone's (None); how many went."""
        query = delete(Event)
        if user is not None:
            query = query.where(Event.user_name == user)
        with self.session() as s:
            return int(s.execute(query).rowcount or 0)  # type: ignore[attr-defined]


def _event(row: Event) -> UseEvent:
    return UseEvent(
        int(row.id),
        row.user_name,
        int(row.file_id),
        row.action,
        row.query,
        row.rank,
        float(row.at),
    )
