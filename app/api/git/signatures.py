"""Whether a push webhook comes from the git host: its signature, checked against
`STEWARD_GIT_WEBHOOK_SECRET`.

- GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
- Gitea and Forgejo: `X-Gitea-Signature: <hex HMAC-SHA256 of the raw body>` (Forgejo sends
  the same value as `X-Forgejo-Signature` too).
- GitLab: `X-Gitlab-Token: <the secret itself>`; GitLab signs nothing, so TLS carries the trust.

Pure: headers, body and secret in, a verdict out. Every comparison is `hmac.compare_digest`,
so how long a refusal takes says nothing about how close a guess came.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Mapping

#: Signature header -> git host, in the order they are looked for.
HEADERS = (("X-Hub-Signature-256", "github"), ("X-Gitea-Signature", "gitea"),
           ("X-Forgejo-Signature", "gitea"), ("X-Gitlab-Token", "gitlab"))
MISSING = ("no signature: the git host sends X-Hub-Signature-256 (GitHub), X-Gitlab-Token "
           "(GitLab) or X-Gitea-Signature (Gitea, Forgejo) when the webhook has a secret")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    host: str  # github, gitea or gitlab; "" when no signature header came
    reason: str = ""  # why it was refused


def verify(headers: Mapping[str, str], body: bytes, secret: str) -> Verdict:
    """Check the first signature header present; the others are not consulted, so a
    request cannot try one guess per header."""
    for header, host in HEADERS:
        sent = headers.get(header)
        if sent is None:
            continue
        if _matches(host, sent.strip(), body, secret):
            return Verdict(True, host)
        return Verdict(False, host, f"{header} does not match STEWARD_GIT_WEBHOOK_SECRET")
    return Verdict(False, "", MISSING)


def sign(body: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of `body`: Gitea's header, and GitHub's after `sha256=`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _matches(host: str, sent: str, body: bytes, secret: str) -> bool:
    if host == "gitlab":
        return hmac.compare_digest(sent.encode(), secret.encode())
    expected = sign(body, secret)
    if host == "github":
        expected = f"sha256={expected}"
    return hmac.compare_digest(sent.lower().encode(), expected.encode())
