"""The error types Steward's layers raise; HTTP codes for them live only in `app/api`.

`TransientError` means "try again on the next pass" (Docker unreachable, a pull that failed);
`PermanentError` means retrying will not help until a person changes something.
"""


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
