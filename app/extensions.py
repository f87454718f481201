"""Project subclasses of flask-smorest's Api, Blueprint and marshmallow's Schema.

Every resource imports these, so the error format (with the `detail` string the contract's
JavaScript client reads) and the datetime format live in one place.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

import flask_smorest
import marshmallow as ma
from werkzeug.exceptions import HTTPException

from app.domain.clock import iso
from app.errors import AppError, detail_for, error_body, status_for
from app.store.db import STORE_FAILURES, classify

log = logging.getLogger(__name__)


class Schema(ma.Schema):
    class Meta:
        ordered = True


class UTCTimestamp(ma.fields.DateTime):  # the column type is app.store.models.UTCDateTime
    """ISO 8601 in UTC with a `Z`, as the contract shows (2025-12-23T10:30:00Z)."""

    def _serialize(self, value: datetime | None, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return iso(value)


class UTCQueryTime(ma.fields.AwareDateTime):
    """An ISO 8601 time with a zone from a caller, turned into UTC; one the store cannot
    hold (year 1 or 9999 shifted out of range) is a validation error, not a 500."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise ma.ValidationError("Not a time Steward can store.") from None


class ErrorSchema(Schema):
    code = ma.fields.Integer(metadata={"description": "HTTP status code"})
    status = ma.fields.String(metadata={"description": "HTTP status name"})
    message = ma.fields.String(metadata={"description": "What went wrong"})
    detail = ma.fields.String(required=True,
                              metadata={"description": "What went wrong, for people and clients"})
    errors = ma.fields.Dict(metadata={"description": "Validation errors by location and field"})


class Api(flask_smorest.Api):
    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: Any, *args: Any, **kwargs: Any) -> None:
        super().init_app(app, *args, **kwargs)
        for failure in STORE_FAILURES:
            app.register_error_handler(failure, self.handle_store_failure)
        app.register_error_handler(AppError, self.handle_app_error)

    @staticmethod
    def handle_app_error(error: AppError) -> tuple[dict, int]:
        """Steward's own errors, at the code `app.errors` maps them to (the page's routes
        answer theirs themselves, as pages)."""
        code = status_for(error)
        if code == 500:
            log.error("request failed: %s", error, exc_info=error)
        return error_body(code, detail_for(error)), code

    def handle_store_failure(self, error: Exception) -> tuple[dict, int]:
        """The database failing (read-only, full, gone) is an outage to report, not a bug:
        503 with what is wrong, for the API and the page's actions alike."""
        problem = classify(error)
        log.error("the database refused a request: %s", problem)
        return error_body(503, f"Steward's database cannot take this now ({problem}); "
                                  "see /readyz, and try again once it is fixed"), 503

    def handle_http_exception(self, error: HTTPException) -> tuple[dict, int, dict]:
        """flask-smorest's JSON error, plus `detail` (never a stack trace, never HTML)."""
        if error.code == 500:
            log.error("request failed with %s", error.code,
                      exc_info=getattr(error, "original_exception", None))
        payload, code, headers = super().handle_http_exception(error)
        if "errors" in payload:
            payload["detail"] = _describe(payload["errors"])
        else:
            payload["detail"] = payload.get("message") or _default_detail(error)
        payload.setdefault("message", payload["detail"])
        return payload, code, headers


def _default_detail(error: HTTPException) -> str:
    if error.code == 500:
        return "Internal server error; see Steward's log for details"
    return error.description or error.name


def _describe(errors: dict) -> str:
    """One readable line from webargs' nested errors, e.g. `category: Must be one of: ...`."""
    parts = []
    for location, fields in errors.items():
        if not isinstance(fields, dict):
            parts.append(f"{location}: {fields}")
            continue
        for field, messages in fields.items():
            text = " ".join(messages) if isinstance(messages, list) else str(messages)
            parts.append(f"Invalid {location} parameter '{field}': {text}")
    return "; ".join(parts) or "Invalid request"


class Blueprint(flask_smorest.Blueprint):
    pass
