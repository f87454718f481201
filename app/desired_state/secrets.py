"""What to keep out of sight when Steward shows a spec: values of secret-looking names,
passwords inside URLs and connection strings, and secret-looking command-line options;
age-encrypted values (see `sealed`) show as a fingerprint of their ciphertext.

Used wherever Steward shows a spec or a value from one (the service page, plan diffs,
container labels, log lines, the followed remote), never where it runs one.
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable

from app.desired_state import sealed

SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|cred|login|private|auth|cert|dsn",
                         re.IGNORECASE)
MASK = "********"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@\s:]*:)[^/@\s]*(?=@)",
                           re.IGNORECASE)
_URL_USER_ONLY = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://)[^/@\s:]+(?=@)", re.IGNORECASE)
#: `Password=x;`, `pwd=x` in ADO/ODBC/libpq connection strings and URL queries.
_KEYWORD_PASSWORD = re.compile(r"(?P<head>(?<![a-z0-9])(?:password|passwd|pwd)\s*=\s*)"
                               r"(?P<value>\"[^\"]*\"|'[^']*'|\{[^}]*\}|[^;&,\s]+)",
                               re.IGNORECASE)
_OPTION_NAME = r"--?[\w.-]*(?:pass|pwd|secret|token|key|cred|auth)[\w.-]*"
_OPTION = re.compile(rf"^(?P<head>{_OPTION_NAME}=).+$", re.IGNORECASE)
_BARE_OPTION = re.compile(rf"^{_OPTION_NAME}$", re.IGNORECASE)
_OPTION_IN_TEXT = re.compile(rf"(?P<head>(?<![\w-]){_OPTION_NAME}[= ])(?P<value>[^\s'\"]+)",
                             re.IGNORECASE)
#: How a secret is kept where only "did it change?" matters (container labels).
FINGERPRINT = "sensitive:"


def is_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def shown(name: str, value: str) -> str:
    """An environment value as it may be shown; an age-encrypted one as the fingerprint of
    its ciphertext, whatever its name, so a reader sees that it changed."""
    if sealed.is_sealed(value):
        return sealed.fingerprint(value)
    return MASK if is_secret(name) else without_credentials(value)


def without_credentials(text: str) -> str:
    """`postgres://u:pw@db/x` -> `postgres://u:********@db/x`; `https://key@host` likewise;
    `Server=db;Password=pw;` -> `Server=db;Password=********;`."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _URL_USER_ONLY.sub(lambda m: m.group("head") + MASK, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group("head") + MASK, text)


def shown_argument(argument: str) -> str:
    """A command-line argument as it may be shown: `--password=x` -> `--password=********`,
    and the same inside a shell string (`sh -c "app --token abc"`)."""
    masked = _OPTION.sub(lambda m: m.group("head") + MASK, argument)
    masked = _OPTION_IN_TEXT.sub(lambda m: m.group("head") + MASK, masked)
    return without_credentials(masked)


def shown_command(arguments: Iterable[str]) -> list[str]:
    """A command as it may be shown; the argument after `--password`, `--token`, ... too."""
    shown: list[str] = []
    hide_next = False
    for argument in map(str, arguments):
        shown.append(MASK if hide_next else shown_argument(argument))
        hide_next = bool(_BARE_OPTION.match(argument))
    return shown


def fingerprint(value: str, shown_as: str) -> str:
    """`value` itself if it may be shown, else `sensitive:<hash>:<shown_as>`: enough to tell
    that a secret changed and to show the rest of the value, never the secret itself."""
    if shown_as == value:
        return value
    return f"{FINGERPRINT}{hashlib.sha256(value.encode()).hexdigest()[:16]}:{shown_as}"


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FINGERPRINT)


def shown_part(value: str) -> str:
    """What may be shown of a value that may be a fingerprint."""
    return value.split(":", 2)[2] if is_fingerprint(value) else value
