"""The host's age key: decrypting desired-state secrets in memory, and making new ones.

The key is an age X25519 identity file (`AGE-SECRET-KEY-1...` lines, `#` comments) named by
STEWARD_AGE_KEY_FILE. It is read on every use, so a replaced key needs no restart, and the
plain text it yields is never kept: the loader decrypts only to check that a value can be
decrypted, the engine only to hand the environment to Docker. Error messages name the key
file and the reason, never a value.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, TypeVar

import pyrage
from pyrage import x25519

from app.desired_state import sealed

# The same NAME=value rules as plain env files (one parser; it is private there).
from app.desired_state.interpolate import parse_env_text
from app.errors import ConfigurationError

KEY_FILE_VARIABLE = "STEWARD_AGE_KEY_FILE"
_IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
T = TypeVar("T")


class SecretError(ConfigurationError):
    """A secret cannot be decrypted here: no key, a bad key file, or another recipient's
    ciphertext. The host's or the file's fault, so it fails the action, not the service."""


@dataclass(frozen=True)
class Keyring:
    """The identities in `key_file` ("" when none is configured)."""

    key_file: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """The key named by STEWARD_AGE_KEY_FILE, as `steward validate` and the loader see it."""
        return cls((os.environ if environ is None else environ).get(KEY_FILE_VARIABLE, ""))

    def identities(self) -> list[x25519.Identity]:
        if not self.key_file:
            raise SecretError(f"encrypted with age, but {KEY_FILE_VARIABLE} is not set; point "
                              "it at the host's age identity file (steward secret keygen)")
        return read_identities(Path(self.key_file))

    def recipients(self) -> list[str]:
        return [str(identity.to_public()) for identity in self.identities()]

    def decrypt(self, armored: str) -> str:
        """The plain text of one sealed value; SecretError when it does not decrypt."""
        identities = self.identities()
        try:
            plain = pyrage.decrypt(armored.encode(), identities)
        except pyrage.DecryptError as err:
            raise SecretError(f"does not decrypt with the key in {KEY_FILE_VARIABLE} "
                              f"({', '.join(self.recipients())}): {_reason(err)}; encrypt it "
                              "to this host's recipient (steward secret recipient)") from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretError("decrypts, but not to UTF-8 text") from None

    def env_file(self, armored: str) -> dict[str, str]:
        """The variables of an encrypted env file; SecretError (with line numbers, no text)
        when it does not decrypt or a line is not NAME=value."""
        values, errors = parse_env_text(self.decrypt(armored))
        if errors:
            raise SecretError("; ".join(f"line {number}: {message}" for number, message in errors))
        return values

    def open_env_file(self, path: Path) -> tuple[str, set[str]]:
        """An encrypted env file (armored, or binary as `age -o` writes it) as the armored
        text a spec keeps, and the names it sets; SecretError when it does not decrypt."""
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise SecretError(f"cannot read it: {err.strerror}") from None
        text = raw.decode("ascii", errors="replace")
        armored = sealed.normalized(text) if sealed.is_sealed(text.lstrip()) else sealed.armor(raw)
        return armored, set(self.env_file(armored))

    def environment(self, pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
        """A container's plain environment from a spec's (see `resolved`). For the engine
        only."""
        return {name: plain for name, plain, _ in self.resolved(pairs)}

    def resolved(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str, str | None]]:
        """Each variable once, as it wins: encrypted env files first, in their order, then
        every other value (an explicit value overrides a file's). With its plain text and,
        when the winning value was sealed, its ciphertext (an env file's variables share
        the file's, told apart by name); None for a plain value."""
        pairs = list(pairs)
        files = sorted((index, key, value) for key, value in pairs
                       if (index := sealed.env_file_index(key)) is not None)
        result: dict[str, tuple[str, str | None]] = {}
        for _, key, value in files:
            for name, plain in self._named(key, lambda: self.env_file(value)).items():
                result[name] = (plain, value)
        for key, value in pairs:
            if sealed.env_file_index(key) is not None:
                continue
            result[key] = (self._named(key, lambda: self.decrypt(value)), value) \
                if sealed.is_sealed(value) else (value, None)
        return [(name, plain, ciphertext) for name, (plain, ciphertext) in result.items()]

    @staticmethod
    def _named(key: str, decrypt: Callable[[], T]) -> T:
        try:
            return decrypt()
        except SecretError as err:
            raise SecretError(f"environment {key}: {err}") from None


def read_identities(path: Path) -> list[x25519.Identity]:
    """The identities of an age identity file; SecretError naming the line, never its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not a text file"
        raise SecretError(f"{KEY_FILE_VARIABLE}={path}: cannot read it: {reason}") from None
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if not line.startswith(_IDENTITY_PREFIX):
                raise pyrage.IdentityError
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise SecretError(f"{path}:{number}: not an age identity (AGE-SECRET-KEY-1...); "
                              "the line is not shown") from None
    if not identities:
        raise SecretError(f"{path} holds no age identity (AGE-SECRET-KEY-1...)")
    return identities


def encrypt(plain: bytes, recipients: Iterable[str]) -> str:
    """`plain` encrypted to every recipient (`age1...`), armored; ValueError for a bad one."""
    parsed = []
    for recipient in recipients:
        try:
            parsed.append(x25519.Recipient.from_str(recipient.strip()))
        except pyrage.RecipientError:
            raise ValueError(f"{recipient!r} is not an age recipient (age1...)") from None
    if not parsed:
        raise ValueError("no recipient: give -r age1... or set STEWARD_AGE_KEY_FILE")
    return sealed.normalized(pyrage.encrypt(plain, parsed, armored=True).decode())


def generate() -> tuple[str, str]:
    """A new identity file's text (age-keygen's format) and its recipient."""
    identity = x25519.Identity.generate()
    recipient = str(identity.to_public())
    return f"# public key: {recipient}\n{identity}\n", recipient


def _reason(err: Exception) -> str:
    """pyrage's reason (about the ciphertext's format or keys, never its content)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else "not age ciphertext"
    return {"No matching keys found": "encrypted to another recipient"}.get(text, text)
