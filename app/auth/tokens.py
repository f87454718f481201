"""Who may do what: named tokens with a role, checked before every request.

With `STEWARD_API_TOKENS` ("name:role:token,...") or `STEWARD_TOKENS_FILE` (one
"name role token" per line) set, every request needs a token: `Authorization: Bearer
<token>` for the API, or the page's login, which trades the token for a signed session
cookie. `viewer` reads, `operator` also acts. `STEWARD_OPEN_READS=true` leaves reads open.
Without tokens nothing is checked, and `steward serve` listens on 127.0.0.1 only.

Tokens are compared in constant time against every configured token, and are never
logged or shown; the event log names the token's *name*.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

ROLES = ("viewer", "operator")
#: Paths anyone may read: Steward's own health, the login page, assets and the API docs.
PUBLIC_PREFIXES = ("/healthz", "/readyz", "/login", "/static/", "/api/docs", "/api/openapi.json")


class TokenConfigError(ValueError):
    """The token settings cannot be used; the message says which entry and why."""


@dataclass(frozen=True)
class Identity:
    name: str
    role: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Tokens:
    entries: tuple[tuple[Identity, bytes], ...] = ()
    open_reads: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def identify(self, token: str) -> Identity | None:
        """The identity of `token`; every entry is compared, so timing says nothing."""
        found = None
        for identity, secret in self.entries:
            if hmac.compare_digest(token.encode(), secret):
                found = identity
        return found

    def find(self, name: str) -> Identity | None:
        return next((i for i, _ in self.entries if i.name == name), None)

    def seal(self, identity: Identity, key: bytes) -> str:
        """A proof, for the page's session, of which token signed in: it stops working when
        that token is replaced or removed. Never the token itself."""
        secret = next((t for i, t in self.entries if i == identity), b"")
        return hmac.new(key, secret, "sha256").hexdigest()

    def unseal(self, name: str, role: str, proof: str, key: bytes) -> Identity | None:
        identity = self.find(name)
        if identity is None or identity.role != role:
            return None
        return identity if hmac.compare_digest(self.seal(identity, key), proof) else None


def load_tokens(config: Mapping[str, Any]) -> Tokens:
    raw = [("STEWARD_API_TOKENS", i + 1, item.strip().split(":", 2))
           for i, item in enumerate(config["API_TOKENS"].split(",")) if item.strip()]
    if config["TOKENS_FILE"]:
        path = Path(config["TOKENS_FILE"])
        try:
            lines = path.read_text().splitlines()
        except OSError as err:
            raise TokenConfigError(f"STEWARD_TOKENS_FILE {path}: {err.strerror}") from None
        raw += [(str(path), n, line.split()) for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
    entries, names = [], set()
    for where, number, parts in raw:
        if len(parts) != 3:
            raise TokenConfigError(f"{where} entry {number}: expected name, role and token")
        name, role, token = parts
        if role not in ROLES:  # never echo the field: the fields may be in the wrong order
            raise TokenConfigError(f"{where} entry {number}: the second field must be one of "
                                   f"{', '.join(ROLES)} (name:role:token)")
        if not 1 <= len(name) <= 64:
            raise TokenConfigError(f"{where} entry {number}: a name has 1 to 64 characters")
        if len(token) < 16:
            raise TokenConfigError(f"{where} entry {number} ({name}): the token is too short; "
                                   "use at least 16 random characters")
        if name in names:
            raise TokenConfigError(f"{where} entry {number}: the name {name!r} is used twice")
        names.add(name)
        entries.append((Identity(name, role), token.encode()))
    return Tokens(tuple(entries), open_reads=config["OPEN_READS"])


def required_role(method: str, path: str, tokens: Tokens) -> str | None:
    """The role a request needs, or None if anyone may make it."""
    if not tokens.enabled or path.startswith(PUBLIC_PREFIXES):
        return None
    if method in ("GET", "HEAD", "OPTIONS"):
        return None if tokens.open_reads else "viewer"
    return "operator"
