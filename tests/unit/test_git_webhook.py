"""Push webhooks (issue 12, item 3): the three hosts' signature formats, refusals that are
401 with a `detail` and an audit event, pushes to other branches acknowledged and ignored,
and the route reachable without an API token but not from a foreign Host."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask

from app.api.git.signatures import MISSING, sign, verify
from app.steward import Steward

SECRET = "webhook-secret-0123456789abcdef"
OPERATOR = "o" * 8 + "-operator-token-01"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "0123456789abcdef0123",
                   "commits": [{"id": "0123456789abcdef0123"}]}).encode()


def github(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": f"sha256={sign(body, secret)}", "X-GitHub-Event": "push"}


def gitea(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Gitea-Signature": sign(body, secret), "X-Gitea-Event": "push"}


def gitlab(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Gitlab-Token": secret, "X-Gitlab-Event": "Push Hook"}


SIGNERS = {"github": github, "gitea": gitea, "gitlab": gitlab}


@pytest.mark.parametrize("host", SIGNERS)
def test_each_hosts_signature_holds(host: str) -> None:
    assert verify(SIGNERS[host](PUSH), PUSH, SECRET).ok
    assert verify(SIGNERS[host](PUSH), PUSH, SECRET).host == host


def test_forgejos_own_header_is_gitea_format() -> None:
    assert verify({"X-Forgejo-Signature": sign(PUSH, SECRET)}, PUSH, SECRET).ok


@pytest.mark.parametrize("headers, reason", [
    ({"X-Hub-Signature-256": f"sha256={sign(PUSH, 'another-secret')}"},
     "X-Hub-Signature-256 does not match"),
    ({"X-Hub-Signature-256": sign(PUSH, SECRET)}, "X-Hub-Signature-256 does not match"),
    ({"X-Hub-Signature-256": f"sha256={sign(PUSH + b' ', SECRET)}"},
     "X-Hub-Signature-256 does not match"),
    ({"X-Hub-Signature-256": "sha256="}, "X-Hub-Signature-256 does not match"),
    ({"X-Gitea-Signature": f"sha256={sign(PUSH, SECRET)}"}, "X-Gitea-Signature does not match"),
    ({"X-Gitea-Signature": sign(b"{}", SECRET)}, "X-Gitea-Signature does not match"),
    ({"X-Gitlab-Token": SECRET[:-1]}, "X-Gitlab-Token does not match"),
    ({"X-Gitlab-Token": ""}, "X-Gitlab-Token does not match"),
    ({"X-Gitlab-Token": "ünïcode"}, "X-Gitlab-Token does not match"),
    ({}, MISSING),
    ({"X-Hub-Signature": "sha1=0000"}, MISSING),  # GitHub's SHA-1 header is not accepted
])
def test_a_wrong_or_missing_signature_is_refused_with_the_reason(
        headers: dict[str, str], reason: str) -> None:
    verdict = verify(headers, PUSH, SECRET)
    assert not verdict.ok and verdict.reason.startswith(reason)


def test_only_the_first_header_present_is_checked() -> None:
    """A wrong GitHub signature is not rescued by a right GitLab token beside it."""
    headers = {"X-Hub-Signature-256": "sha256=00", **gitlab(PUSH)}
    assert not verify(headers, PUSH, SECRET).ok


@pytest.fixture
def hooked(make_app: Callable[..., Flask], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[Flask, list[str]]:
    """An app with tokens set that follows a (never fetched) remote; wakes are recorded."""
    app = make_app(API_TOKENS=f"ops:operator:{OPERATOR}", GIT_WEBHOOK_SECRET=SECRET,
                   GIT_URL=f"file://{tmp_path / 'remote.git'}", GIT_BRANCH="main",
                   GIT_CHECKOUT=str(tmp_path / "checkout"))
    steward: Steward = app.extensions["steward"]
    wakes: list[str] = []
    monkeypatch.setattr(steward.follower, "wake", lambda: wakes.append("wake"))
    return app, wakes


def post(app: Flask, body: bytes, headers: dict[str, str], **extra: str):
    return app.test_client().post("/api/system/git/webhook", data=body, headers={
        "Content-Type": "application/json", **headers, **extra})


def events(app: Flask, kind: str) -> list[dict]:
    answer = app.test_client().get(f"/api/system/events?kind={kind}",
                                   headers={"Authorization": f"Bearer {OPERATOR}"})
    return answer.get_json()["events"]


@pytest.mark.parametrize("host", SIGNERS)
def test_a_signed_push_to_the_branch_fetches_now_without_a_token(
        hooked: tuple[Flask, list[str]], host: str) -> None:
    app, wakes = hooked
    answer = post(app, PUSH, SIGNERS[host](PUSH))
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["result"] == "fetching" and answer.get_json()["host"] == host
    assert wakes == ["wake"]
    [event] = events(app, "webhook")
    assert (event["actor"], event["origin"]) == ("git-webhook", "127.0.0.1")
    assert event["message"].startswith(f"push to main (0123456789ab) from {host}")


@pytest.mark.parametrize("payload, ignored", [
    ({"ref": "refs/heads/feature", "after": "ab" * 20}, "a push to refs/heads/feature"),
    ({"ref": "refs/tags/main"}, "a push to refs/tags/main"),
    ({"zen": "Keep it logically awesome.", "hook_id": 1}, "not a push (no ref, e.g. a ping)"),
    (["not", "an", "object"], "not a push"),
])
def test_a_signed_delivery_about_anything_else_is_acknowledged_and_ignored(
        hooked: tuple[Flask, list[str]], payload: object, ignored: str) -> None:
    app, wakes = hooked
    body = json.dumps(payload).encode()
    answer = post(app, body, github(body))
    assert answer.status_code == 200
    assert answer.get_json()["result"] == "ignored"
    assert answer.get_json()["detail"].startswith(ignored)
    assert "Steward follows refs/heads/main" in answer.get_json()["detail"]
    assert wakes == []


@pytest.mark.parametrize("headers", [github(PUSH, "wrong-secret"), {}, gitlab(PUSH, "nope")])
def test_a_bad_signature_is_401_with_detail_and_audited(
        hooked: tuple[Flask, list[str]], headers: dict[str, str]) -> None:
    app, wakes = hooked
    answer = post(app, PUSH, headers, **{"User-Agent": "GitHub-Hookshot/x"})
    assert answer.status_code == 401 and answer.is_json
    assert answer.get_json()["detail"].startswith("Webhook refused: ")
    assert wakes == []
    [event] = events(app, "webhook-refused")
    assert (event["actor"], event["origin"]) == ("git-webhook", "127.0.0.1")
    assert event["message"].startswith("git webhook refused: ")
    assert not any(value in event["message"] for value in headers.values()), \
        "what was sent as a signature is never logged"


def test_a_delivery_over_64_kib_is_413_before_any_signature_is_checked(
        hooked: tuple[Flask, list[str]]) -> None:
    """The cap stays for the one route anyone may reach (docs/gitops-webhooks.md)."""
    app, wakes = hooked
    body = json.dumps({"ref": "refs/heads/main", "commits": ["x" * 70_000]}).encode()
    answer = post(app, body, github(body))
    assert answer.status_code == 413 and answer.get_json()["detail"].startswith(
        "Request body too large")
    assert wakes == [] and events(app, "webhook-refused") == []


def test_other_actions_still_need_a_token(hooked: tuple[Flask, list[str]]) -> None:
    app, _ = hooked
    assert post(app, b"{}", {}, **{"X-Gitlab-Token": SECRET}).status_code == 200
    assert app.test_client().post("/api/system/apply", json={}).status_code == 401


def test_a_foreign_host_is_refused_unless_allowed(make_app: Callable[..., Flask],
                                                  tmp_path: Path) -> None:
    settings = dict(API_TOKENS=f"ops:operator:{OPERATOR}", GIT_WEBHOOK_SECRET=SECRET,
                    GIT_URL=f"file://{tmp_path / 'remote.git'}",
                    GIT_CHECKOUT=str(tmp_path / "checkout"))
    host = {"Host": "steward.example.org"}
    body = b'{"ref": "refs/heads/other"}'
    assert post(make_app(**settings), body, github(body), **host).status_code == 400
    allowed = make_app(ALLOWED_HOSTS="steward.example.org", **settings)
    assert post(allowed, body, github(body), **host).status_code == 200


@pytest.mark.parametrize("settings, detail", [
    ({}, "Git webhooks are off: set STEWARD_GIT_WEBHOOK_SECRET"),
    ({"GIT_WEBHOOK_SECRET": SECRET}, "Steward follows no git remote: set STEWARD_GIT_URL"),
])
def test_without_a_secret_or_a_remote_the_endpoint_is_404_and_says_why(
        make_app: Callable[..., Flask], settings: dict, detail: str) -> None:
    answer = post(make_app(**settings), PUSH, github(PUSH))
    assert answer.status_code == 404 and answer.get_json()["detail"].startswith(detail)


def test_the_route_is_documented_without_a_token(app: Flask) -> None:
    spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    operation = spec["paths"]["/api/system/git/webhook"]["post"]
    assert operation["security"] == []
    assert {"202", "200", "401", "404"} <= set(operation["responses"])
