"""Age-encrypted secrets in desired-state files: they load as ciphertext, must decrypt with
the host's key (or fail with file:line and no value), show only as fingerprints, and reach
the container's create call as plain text."""
from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli.commands import main
from app.desired_state import DesiredStateError, age_secrets, load_directory, sealed
from app.desired_state.age_secrets import Keyring, SecretError
from app.desired_state.spec import ServiceSpec
from app.desired_state.yaml_lines import YamlSyntaxError, parse
from app.engine.options import create_options, labels
from app.reconcile.diff import spec_changes
from app.web.format import spec_yaml

PLAIN = "hunter2-plain-value"
FILE_PLAIN = "s3cret-from-file"


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The host's key file, named by STEWARD_AGE_KEY_FILE; (path, recipient)."""
    text, recipient = age_secrets.generate()
    path = tmp_path / "age.key"
    path.write_text(text)
    monkeypatch.setenv(age_secrets.KEY_FILE_VARIABLE, str(path))
    return path, recipient


def sealed_block(value: str, recipient: str, indent: int = 8) -> str:
    armored = age_secrets.encrypt(value.encode(), [recipient])
    return "\n".join(" " * indent + line for line in armored.splitlines())


def write_service(directory: Path, environment: str, extra: str = "") -> Path:
    path = directory / "services.yaml"
    path.write_text("services:\n  web:\n    category: infrastructure\n    image: busybox\n"
                    + extra + "    environment:\n" + environment)
    return path


def load_web(directory: Path) -> ServiceSpec:
    return load_directory(directory).services["web"]


def errors_of(directory: Path) -> list[str]:
    with pytest.raises(DesiredStateError) as caught:
        load_directory(directory)
    return [str(e) for e in caught.value.errors]


def test_a_tagged_value_stays_ciphertext_in_the_spec_and_decrypts_for_the_container(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    write_service(desired_dir, f"      API_TOKEN: !age |\n{sealed_block(PLAIN, key[1])}\n"
                               "      MODE: plain\n")
    spec = load_web(desired_dir)
    stored = json.dumps(spec.to_dict())
    assert PLAIN not in stored and sealed.ARMOR_BEGIN in stored
    assert ServiceSpec.from_dict(json.loads(stored)).spec_hash == spec.spec_hash
    options = create_options("inst", spec, {}, secrets=Keyring(str(key[0])))
    assert options["environment"] == {"API_TOKEN": PLAIN, "MODE": "plain"}
    shown = json.dumps([labels("inst", spec), spec.label_fields(), spec_yaml(spec.to_dict())])
    assert PLAIN not in shown and sealed.ARMOR_BEGIN not in shown
    assert sealed.fingerprint(dict(spec.environment)["API_TOKEN"]) in shown


def test_without_a_key_the_engine_refuses_instead_of_passing_ciphertext(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    write_service(desired_dir, f"      API_TOKEN: !age |\n{sealed_block(PLAIN, key[1])}\n")
    spec = load_web(desired_dir)
    with pytest.raises(SecretError, match="environment API_TOKEN: .*STEWARD_AGE_KEY_FILE is "
                                          "not set") as caught:
        create_options("inst", spec, {})
    assert PLAIN not in str(caught.value)


def test_a_missing_key_is_an_error_at_the_value_line(desired_dir: Path, key: tuple[Path, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_service(desired_dir, f"      MODE: x\n      API_TOKEN: !age |\n"
                               f"{sealed_block(PLAIN, key[1])}\n")
    monkeypatch.delenv(age_secrets.KEY_FILE_VARIABLE)
    [error] = errors_of(desired_dir)
    assert error.startswith("desired_state/services.yaml:7: services.web.environment.API_TOKEN: "
                            "encrypted with age, but STEWARD_AGE_KEY_FILE is not set")


def test_another_recipients_value_is_an_error_naming_the_host_recipient_not_the_value(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    _, stranger = age_secrets.generate()
    write_service(desired_dir, f"      API_TOKEN: !age |\n{sealed_block(PLAIN, stranger)}\n")
    [error] = errors_of(desired_dir)
    assert error.startswith("desired_state/services.yaml:6: services.web.environment.API_TOKEN:"
                            " does not decrypt")
    assert key[1] in error and "another recipient" in error
    assert PLAIN not in error and sealed.ARMOR_BEGIN not in error


@pytest.mark.parametrize("value, message", [
    ("!age |\n        not ciphertext at all\n", "!age needs age's armored ciphertext"),
    ("!age [1, 2]\n", "not a mapping or a list"),
])
def test_garbage_under_the_tag_is_an_error_at_its_line(desired_dir: Path, key: tuple[Path, str],
                                                       value: str, message: str) -> None:
    write_service(desired_dir, f"      MODE: x\n      API_TOKEN: {value}")
    [error] = errors_of(desired_dir)
    assert error.startswith("desired_state/services.yaml:7: ") and message in error
    assert "not ciphertext at all" not in error


def test_ciphertext_that_is_cut_short_is_an_error(desired_dir: Path,
                                                  key: tuple[Path, str]) -> None:
    armored = age_secrets.encrypt(PLAIN.encode(), [key[1]]).splitlines()
    cut = [armored[0], armored[1], armored[-1]]
    write_service(desired_dir, "      API_TOKEN: !age |\n"
                  + "".join(f"        {line}\n" for line in cut))
    [error] = errors_of(desired_dir)
    assert error.startswith("desired_state/services.yaml:6: services.web.environment.API_TOKEN:"
                            " does not decrypt")


def test_untagged_ciphertext_is_refused_so_the_tag_says_what_is_secret(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    write_service(desired_dir, f"      API_TOKEN: |\n{sealed_block(PLAIN, key[1])}\n")
    [error] = errors_of(desired_dir)
    assert "age ciphertext without its tag" in error and "API_TOKEN: !age |" in error


def test_the_fingerprint_is_stable_per_ciphertext_and_a_rotation_is_drift(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    write_service(desired_dir, f"      GREETING: !age |\n{sealed_block(PLAIN, key[1])}\n")
    first, again = load_web(desired_dir), load_web(desired_dir)
    assert first.spec_hash == again.spec_hash and first.label_fields() == again.label_fields()
    write_service(desired_dir, f"      GREETING: !age |\n{sealed_block(PLAIN, key[1])}\n")
    rotated = load_web(desired_dir)  # the same value encrypted again: new ciphertext
    assert rotated.spec_hash != first.spec_hash
    assert rotated.field_hashes()["environment"] != first.field_hashes()["environment"]
    [change] = spec_changes(first.label_fields(), rotated.label_fields(), ("environment",))
    old, new = (sealed.fingerprint(dict(s.environment)["GREETING"]) for s in (first, rotated))
    assert change.render() == f"~ environment.GREETING: {old} -> {new}"


def test_an_indented_or_chomped_block_hashes_like_the_plain_one() -> None:
    armored = age_secrets.encrypt(b"x", [age_secrets.generate()[1]])
    chomped = parse("a: !age |-\n" + "".join(f"    {l}\n" for l in armored.splitlines()))
    assert chomped["a"] == sealed.Sealed(armored)


def test_an_encrypted_env_file_stays_one_sealed_entry_with_compose_precedence(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    (desired_dir / "plain.env").write_text("DB_PASSWORD=plain-one\nKEEP=1\nMODE=plain\n")
    (desired_dir / "db.env.age").write_text(age_secrets.encrypt(
        f"DB_PASSWORD={FILE_PLAIN}\nMODE=file\nDB_USER=app\n".encode(), [key[1]]))
    write_service(desired_dir, "      MODE: environment\n",
                  extra="    env_file: [plain.env, db.env.age]\n")
    spec = load_web(desired_dir)
    names = [name for name, _ in spec.environment]
    assert names == ["KEEP", "MODE", "env_file[1]:db.env.age"]  # DB_* stay unnamed
    shown = json.dumps([spec.to_dict(), spec.label_fields()])
    assert FILE_PLAIN not in shown and "DB_USER" not in shown and "plain-one" not in shown
    assert Keyring(str(key[0])).environment(spec.environment) == {
        "DB_PASSWORD": FILE_PLAIN, "DB_USER": "app", "KEEP": "1", "MODE": "environment"}


def test_a_binary_env_file_loads_like_an_armored_one(desired_dir: Path,
                                                      key: tuple[Path, str]) -> None:
    import pyrage
    from pyrage import x25519

    recipient = x25519.Recipient.from_str(key[1])
    (desired_dir / "db.env.age").write_bytes(pyrage.encrypt(b"A=1\n", [recipient]))
    write_service(desired_dir, "      B: 2\n", extra="    env_file: db.env.age\n")
    spec = load_web(desired_dir)
    assert Keyring(str(key[0])).environment(spec.environment) == {"A": "1", "B": "2"}


def test_env_file_errors_name_the_file_line_and_never_its_text(
        desired_dir: Path, key: tuple[Path, str]) -> None:
    (desired_dir / "db.env.age").write_text(age_secrets.encrypt(
        f"OK=1\n{FILE_PLAIN} without an equals sign\n".encode(), [key[1]]))
    (desired_dir / "other.env.age").write_text(age_secrets.encrypt(
        b"A=1\n", [age_secrets.generate()[1]]))
    write_service(desired_dir, "      B: 2\n",
                  extra="    env_file:\n      - db.env.age\n      - other.env.age\n")
    first, second = errors_of(desired_dir)
    assert first == ("desired_state/services.yaml:6: services.web.env_file[0]: db.env.age: "
                     "line 2: not of the form NAME=value (the line is not shown)")
    assert second.startswith("desired_state/services.yaml:7: services.web.env_file[1]: "
                             "other.env.age: does not decrypt")
    assert FILE_PLAIN not in first + second


def test_a_bad_key_file_names_the_line_and_never_its_text(tmp_path: Path) -> None:
    path = tmp_path / "age.key"
    path.write_text("# a comment\nAGE-SECRET-KEY-1-not-really-a-key\n")
    with pytest.raises(SecretError, match=r"age.key:2: not an age identity") as caught:
        Keyring(str(path)).recipients()
    assert "not-really" not in str(caught.value)
    with pytest.raises(SecretError, match="cannot read it"):
        Keyring(str(tmp_path / "missing")).recipients()


def test_the_tag_outside_a_mapping_value_is_still_checked() -> None:
    with pytest.raises(YamlSyntaxError) as caught:
        parse("a:\n  - !age {x: 1}\n")
    assert caught.value.line == 2


def test_secret_keygen_recipient_and_encrypt_round_trip(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    path = tmp_path / "keys" / "age.key"
    made = runner.invoke(main, ["secret", "keygen", "-o", str(path)])
    assert made.exit_code == 0, made.output
    recipient = made.stdout.strip()
    assert recipient.startswith("age1") and os.stat(path).st_mode & 0o777 == 0o600
    again = runner.invoke(main, ["secret", "keygen", "-o", str(path)])
    assert again.exit_code == 1 and "exists" in again.output
    monkeypatch.setenv(age_secrets.KEY_FILE_VARIABLE, str(path))
    assert runner.invoke(main, ["secret", "recipient"]).stdout.strip() == recipient
    out = runner.invoke(main, ["secret", "encrypt", "API_TOKEN"], input=PLAIN + "\n")
    assert out.exit_code == 0 and PLAIN not in out.stdout
    assert out.stdout.startswith("      API_TOKEN: !age |\n")
    value = parse(textwrap.dedent(out.stdout))["API_TOKEN"]
    assert Keyring(str(path)).decrypt(value.armored) == PLAIN


def test_secret_encrypt_writes_an_env_file_and_refuses_bad_input(
        tmp_path: Path, key: tuple[Path, str]) -> None:
    runner = CliRunner()
    env = tmp_path / "db.env"
    env.write_text(f"DB_PASSWORD={FILE_PLAIN}\n")
    out = runner.invoke(main, ["secret", "encrypt", "--env-file", str(env)])
    assert out.exit_code == 0, out.output
    armored = (tmp_path / "db.env.age").read_text()
    assert FILE_PLAIN not in armored
    assert Keyring(str(key[0])).env_file(armored) == {"DB_PASSWORD": FILE_PLAIN}
    env.write_text(f"{FILE_PLAIN}\n")
    bad = runner.invoke(main, ["secret", "encrypt", "--env-file", str(env)])
    assert bad.exit_code == 1 and ":1: not of the form" in bad.output
    assert FILE_PLAIN not in bad.output
    stranger = runner.invoke(main, ["secret", "encrypt", "X", "-r", "age1nope"], input="v")
    assert stranger.exit_code == 1 and "not an age recipient" in stranger.output
    empty = runner.invoke(main, ["secret", "encrypt", "X"], input="\n")
    assert empty.exit_code == 1 and "empty" in empty.output
