"""The running Steward of the current Flask app, for the API, the page and the access
checks: they reach the store and the reconciler through it, never through Docker."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from app.steward import Steward


def current_steward() -> Steward:
    return current_app.extensions["steward"]
