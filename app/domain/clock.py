"""The one clock and the one way a moment is written for machines: UTC, to the second, with
a `Z` (the contract's timestamps, webhook bodies, plan output). Pages format for people in
`app/web/format.py`."""
from __future__ import annotations

from datetime import datetime, timezone

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """`2026-12-01T02:09:49Z`; a naive moment is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(ISO_FORMAT)


def parse_iso(text: str) -> datetime:
    """The inverse of `iso` (any ISO 8601 moment with a zone); ValueError for anything else.
    fromisoformat, not strptime: the page parses a few hundred per render."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return moment.astimezone(timezone.utc)
