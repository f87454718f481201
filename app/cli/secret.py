"""`steward secret`: make the host's age key, print its recipient, and encrypt values or
whole env files for desired-state files (the format is in docs/secrets.md).

Authors need only the recipient (public); the key stays on the host. Values are read from
standard input or typed without echo, never taken as arguments.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

from app.config import load_config


@click.group()
def secret() -> None:
    """Secrets for desired-state files, encrypted with age to the host's key (see
    docs/secrets.md)."""


@secret.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the key (default: STEWARD_AGE_KEY_FILE).")
def keygen(output: Path | None) -> None:
    """Make the host's age key (mode 0600) and print its recipient, which authors encrypt
    to; an existing key is never replaced."""
    from app.desired_state.age_secrets import KEY_FILE_VARIABLE, generate

    configured = load_config()["AGE_KEY_FILE"]
    target = output or (Path(configured) if configured else None)
    if target is None:
        raise click.ClickException(f"give --output, or set {KEY_FILE_VARIABLE}")
    text, recipient = generate()
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{target} exists; a new key there would leave every "
                                   "secret encrypted to it unreadable") from None
    with os.fdopen(handle, "w") as key_file:
        key_file.write(text)
    click.echo(f"wrote {target}; its recipient, to give to authors:", err=True)
    click.echo(recipient)


@secret.command()
@click.argument("key_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def recipient(key_file: Path | None) -> None:
    """Print the recipient (age1..., public) of KEY_FILE (default: STEWARD_AGE_KEY_FILE)."""
    from app.desired_state.age_secrets import Keyring, SecretError

    keyring = Keyring(str(key_file) if key_file else load_config()["AGE_KEY_FILE"])
    try:
        click.echo("\n".join(keyring.recipients()))
    except SecretError as err:
        raise click.ClickException(str(err)) from None


@secret.command()
@click.argument("name", required=False)
@click.option("-r", "--recipient", "recipients", multiple=True,
              help="An age recipient (age1...) to encrypt to; repeat for several. Default: "
                   "the recipient of STEWARD_AGE_KEY_FILE.")
@click.option("--env-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Encrypt this whole env file to ENV_FILE.age instead of one value.")
@click.option("--indent", type=click.IntRange(0, 40), default=6, show_default=True,
              help="Spaces before NAME, to paste it under a service's environment:.")
def encrypt(name: str | None, recipients: tuple[str, ...], env_file: Path | None,
            indent: int) -> None:
    """Encrypt a value from standard input (or typed, not echoed) and print it as
    `NAME: !age |` for a desired-state file, or encrypt a whole --env-file.

    The value is never an argument, so it stays out of shell history and `ps`.
    """
    from app.desired_state import age_secrets

    recipients = recipients or tuple(_host_recipients())
    if env_file is not None:
        _encrypt_env_file(env_file, recipients)
        return
    if name is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise click.ClickException(f"{name!r} is not a valid environment variable name")
    value = _secret_input()
    try:
        armored = age_secrets.encrypt(value.encode(), recipients)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    head = " " * indent + (f"{name}: " if name else "")
    click.echo(head + "!age |")
    for line in armored.splitlines():
        click.echo(" " * (indent + 2) + line)


def _host_recipients() -> list[str]:
    from app.desired_state.age_secrets import Keyring, SecretError

    try:
        return Keyring(load_config()["AGE_KEY_FILE"]).recipients()
    except SecretError:
        raise click.ClickException("give -r age1... (on the host: steward secret recipient), "
                                   "or set STEWARD_AGE_KEY_FILE to the host's key") from None


def _secret_input() -> str:
    """The value: typed twice without echo on a terminal, else standard input without its
    final newline (`printf %s "$V" |` and `echo "$V" |` give the same)."""
    if sys.stdin.isatty():
        value = click.prompt("Value", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not value:
        raise click.ClickException("the value is empty")
    return value


def _encrypt_env_file(env_file: Path, recipients: tuple[str, ...]) -> None:
    from app.desired_state import age_secrets
    from app.desired_state.interpolate import parse_env_text

    try:
        text = env_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{env_file} is not UTF-8 text") from None
    values, errors = parse_env_text(text)
    if errors:
        raise click.ClickException("; ".join(f"{env_file}:{number}: {message}"
                                             for number, message in errors))
    try:
        armored = age_secrets.encrypt(text.encode(), recipients)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    target = env_file.with_name(env_file.name + ".age")
    target.write_text(armored)
    click.echo(f"wrote {target} ({len(values)} variable(s)); use it as env_file: "
               f"{target.name}, and keep {env_file.name} out of git")
