"""The error types Steward's layers raise, and the one map from them to HTTP.

`TransientError` means "the same request may work in a moment" (Docker unreachable, a pass
still running, an action already under way, this replica not the leader); `PermanentError`
means it will not work until a person changes something (an unknown service, an action the
service's state does not allow, a bad desired-state file).

The API, the page and the checks before a route all answer with `error_body()`, at the code
`status_for()` gives: a new error type gets its code here and nowhere else.
"""
from __future__ import annotations

from http import HTTPStatus

#: What the contract says when Docker is away (before the reason).
UNAVAILABLE = "Container orchestrator not available"


class AppError(Exception):
    """Base of every error Steward raises on purpose; its message is meant for an operator."""


class TransientError(AppError):
    pass


class PermanentError(AppError):
    pass


class EngineUnavailable(TransientError):
    """The container engine cannot be reached; the API answers 503 while this lasts."""


class ActionFailed(TransientError):
    """One Docker operation on one service failed; the others go on."""


class ConfigurationError(ActionFailed):
    """An operation failed because of the host's setup or the spec (no GPU runtime), not
    the service: retried with backoff like any failed action, never counted as a crash."""


class ServiceNotFound(PermanentError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Service '{name}' not found")


class ActionRejected(PermanentError):
    """The request does not fit the service's state (e.g. restart of a disabled service)."""


class ActionInProgress(TransientError):
    """The same action was asked for and has not been carried out yet."""


class Busy(TransientError):
    """A pass is running and did not end in time for this one (an apply) to start."""


class NotObserved(TransientError):
    """Steward has not seen Docker yet (just started, or the engine is unreachable)."""


class NotLeader(TransientError):
    """This replica follows; what acts on the engine runs on the leader."""


#: The one map from error type to HTTP status; the nearest listed base class decides.
HTTP_STATUS: dict[type[AppError], int] = {
    ServiceNotFound: 404,
    ActionRejected: 400,
    ActionInProgress: 409,
    NotLeader: 409,
    Busy: 503,
    NotObserved: 503,
    EngineUnavailable: 503,
    AppError: 500,
}


def status_for(error: AppError) -> int:
    return next(HTTP_STATUS[kind] for kind in type(error).__mro__ if kind in HTTP_STATUS)


def detail_for(error: AppError) -> str:
    """The operator's message; Docker being away reads as the contract says."""
    return f"{UNAVAILABLE}: {error}" if isinstance(error, EngineUnavailable) else str(error)


def error_body(code: int, detail: str) -> dict:
    """The JSON body of every error Steward answers (the API's ErrorSchema): `detail` says
    what happened and what to do; `message` repeats it for flask-smorest's clients."""
    return {"code": code, "status": HTTPStatus(code).phrase, "message": detail,
            "detail": detail}
