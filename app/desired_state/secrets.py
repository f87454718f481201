"""What to keep out of sight when Steward shows a spec: values of secret-looking names,
passwords inside URLs, and secret-looking command-line options.

Used wherever Steward shows a spec (the service page, plan diffs), never where it runs one.
"""
from __future__ import annotations

import re

SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|credential|private|auth|cert|dsn",
                         re.IGNORECASE)
MASK = "********"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@\s:]*:)[^/@\s]*(?=@)",
                           re.IGNORECASE)
_URL_USER_ONLY = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://)[^/@\s:]+(?=@)", re.IGNORECASE)
_OPTION = re.compile(r"^(?P<head>--?[\w.-]*(?:pass|pwd|secret|token|key|auth)[\w.-]*=).+$",
                     re.IGNORECASE)


def is_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def shown(name: str, value: str) -> str:
    """An environment value as it may be shown."""
    return MASK if is_secret(name) else without_credentials(value)


def without_credentials(text: str) -> str:
    """`postgres://u:pw@db/x` -> `postgres://u:********@db/x`; `https://key@host` likewise."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _URL_USER_ONLY.sub(lambda m: m.group("head") + MASK, text)


def shown_argument(argument: str) -> str:
    """A command-line argument as it may be shown: `--password=x` -> `--password=********`."""
    masked = _OPTION.sub(lambda m: m.group("head") + MASK, argument)
    return without_credentials(masked)
