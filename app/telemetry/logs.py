"""Steward's log format, and the one place every logged value is made safe.

A logged value may come from a request (a service name from a URL) or from a remote (git's
error output), so `SafeFormatter` escapes control characters in every message (a `%0a` in
a name cannot start a forged line), masks credentials in URLs and connection strings, and
indents tracebacks, so no line of one can pass for a record of its own.
"""
from __future__ import annotations

import logging
import re

from app.desired_state.secrets import without_credentials

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`a\\nb` -> `a\\\\nb`: control characters written out, never acted on by a terminal."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


class SafeFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        """Format the traceback afresh: another handler may have cached it unescaped."""
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.message = escape_controls(without_credentials(record.message))
        return super().formatMessage(record)

    def formatException(self, ei: object) -> str:  # noqa: N802 - logging's name
        return _indented(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return _indented(super().formatStack(stack_info))


def _indented(text: str) -> str:
    return "\n".join("  " + escape_controls(without_credentials(line))
                     for line in text.splitlines())


def configure_logging(level: str) -> None:
    """One handler on the root logger with `SafeFormatter`; waitress, APScheduler and
    Steward's own loggers all write through it."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
