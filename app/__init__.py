"""Steward: keep Docker services the way a reviewed git repository says.

The package imports nothing itself, so commands that need no app (`steward --help`,
`steward validate`, a `steward apply` through a running server) start quickly; `create_app`
and `MAX_BODY_BYTES` come from `app.factory` the first time they are asked for.
"""
from __future__ import annotations

from typing import Any

__all__ = ["MAX_BODY_BYTES", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from app import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'app' has no attribute {name!r}")
