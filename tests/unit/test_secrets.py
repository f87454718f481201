"""Masking (issue 11, finding 11): one set of rules for the page, the API, the labels, the
errors and the logs; secret names, passwords in connection strings, URL userinfo."""
from __future__ import annotations

import pytest

from app.desired_state.secrets import MASK, is_secret, shown, without_credentials


@pytest.mark.parametrize("name", [
    "OTHER_CRED", "DB_CREDENTIALS", "DB_PWD", "DB_PASSWD", "DB_PASSWORD", "SMTP_LOGIN",
    "API_KEY", "GITHUB_TOKEN", "CLIENT_SECRET", "AUTH_HEADER", "OAUTH_URL"])
def test_secret_looking_names_hide_the_whole_value(name: str) -> None:
    assert is_secret(name) and shown(name, "user:pass") == MASK


@pytest.mark.parametrize("name", ["PATH", "HOME", "LOG_LEVEL", "WORKERS", "TZ"])
def test_ordinary_names_show_their_value(name: str) -> None:
    assert not is_secret(name) and shown(name, "value") == "value"


@pytest.mark.parametrize("value, expected", [
    ("Server=db;User Id=sa;Password=S3cret!;", f"Server=db;User Id=sa;Password={MASK};"),
    ("user=admin;pwd=hunter2", f"user=admin;pwd={MASK}"),
    ("host=db user=u password=pw dbname=x", f"host=db user=u password={MASK} dbname=x"),
    ("Driver={x};PWD={a;b};Server=y", f"Driver={{x}};PWD={MASK};Server=y"),
    ("DSN=x;Passwd='p w';", f"DSN=x;Passwd={MASK};"),
    ("http://h/x?user=u&password=p&z=1", f"http://h/x?user=u&password={MASK}&z=1"),
    ("postgres://steward:pw@db:5432/s", f"postgres://steward:{MASK}@db:5432/s"),
    ("https://ghp_abc123@github.com/o/r.git", f"https://{MASK}@github.com/o/r.git"),
    ("https://user:TOKEN@git.example/r.git", f"https://user:{MASK}@git.example/r.git"),
])
def test_passwords_inside_values_are_masked(value: str, expected: str) -> None:
    assert without_credentials(value) == expected
    assert shown("CONN", value) == expected


@pytest.mark.parametrize("value", ["redis://cache:6379/0", "password_policy=strict-mode",
                                   "no secrets here", "mail=ops@example.org"])
def test_values_without_credentials_are_unchanged(value: str) -> None:
    assert without_credentials(value) == value
