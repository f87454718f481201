"""Age-encrypted values as desired-state files and specs carry them, without any key.

In a file, a secret is a value tagged `!age` holding age's armored ciphertext (what
`steward secret encrypt` or `age --armor` prints). The spec keeps that text as it is, and its
first line marks it sealed: the store, the spec hash, labels and plans only ever see
ciphertext, so re-encrypting a secret changes the hash (drift) and shows as a new
fingerprint, while the plain text exists only in memory, in `age_secrets`, at load (to check
it decrypts) and at container creation. No cryptography here: this module needs no key.
"""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"
ARMOR_END = "-----END AGE ENCRYPTED FILE-----"
TAG = "!age"
#: How an env file's name says it is encrypted: `env_file: db.env.age`.
ENV_FILE_SUFFIX = ".age"
#: An encrypted env file inside a spec's environment: `env_file[<index>]:<name>` with the
#: file's ciphertext as value. Not a valid variable name, so it never clashes with one; the
#: engine expands it, in index order, before the plain values.
_ENV_FILE_KEY = re.compile(r"^env_file\[(\d+)\]:(.+)$")
_BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_ARMOR_COLUMNS = 64


@dataclass(frozen=True)
class Sealed:
    """A `!age` value as the YAML loader returns it; only `Environment` accepts one."""

    armored: str

    def __repr__(self) -> str:
        return f"Sealed({fingerprint(self.armored)})"


def from_yaml(text: object) -> Sealed:
    """The value of a `!age` tag; ValueError (naming no value) unless it is armored age."""
    if not isinstance(text, str):
        raise ValueError("!age takes age's armored ciphertext as a block (!age |), not a "
                         "mapping or a list")
    armored = normalized(text)
    lines = armored.splitlines()
    if len(lines) < 3 or lines[0] != ARMOR_BEGIN or lines[-1] != ARMOR_END \
            or not all(_BASE64_LINE.match(line) for line in lines[1:-1]):
        raise ValueError(f"!age needs age's armored ciphertext, from {ARMOR_BEGIN} to "
                         f"{ARMOR_END}; make it with: steward secret encrypt NAME")
    return Sealed(armored)


def normalized(text: str) -> str:
    """Armored text without indentation or blank lines, ending in one newline: `|` and `|-`
    blocks, or a re-indented one, hash alike."""
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip()) + "\n"


def armor(ciphertext: bytes) -> str:
    """Binary age ciphertext (`age -o file`) in the armored form specs keep."""
    body = base64.b64encode(ciphertext).decode()
    lines = [body[i:i + _ARMOR_COLUMNS] for i in range(0, len(body), _ARMOR_COLUMNS)]
    return "\n".join([ARMOR_BEGIN, *lines, ARMOR_END]) + "\n"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ARMOR_BEGIN)


def fingerprint(armored: str) -> str:
    """`age:<12 hex>`: a hash of the ciphertext, never of the plain text. Equal for the same
    ciphertext, new for every encryption (age is randomized), so a rotation shows."""
    return f"age:{hashlib.sha256(armored.encode()).hexdigest()[:12]}"


def is_env_file(name: str) -> bool:
    return name.endswith(ENV_FILE_SUFFIX)


def env_file_key(index: int, name: str) -> str:
    return f"env_file[{index}]:{name}"


def env_file_index(key: str) -> int | None:
    """The position of an encrypted env file in `env_file:`, when `key` stands for one."""
    match = _ENV_FILE_KEY.match(key)
    return int(match.group(1)) if match else None
