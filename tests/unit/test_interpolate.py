"""`${VAR}` in desired-state files: every form Compose has, `.env`, and errors that name the
variable and its file:line but never a value."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.desired_state import DesiredStateError, load_directory
from app.desired_state.interpolate import InterpolationError, read_env_file, substitute
from tests.helpers import write_state

VARIABLES = {"SET": "value", "EMPTY": "", "PORT": "5432"}


@pytest.mark.parametrize("text, expected", [
    ("${SET}", "value"),
    ("$SET", "value"),
    ("pre-${SET}-post", "pre-value-post"),
    ("${UNSET:-fallback}", "fallback"),
    ("${EMPTY:-fallback}", "fallback"),
    ("${EMPTY-fallback}", ""),
    ("${UNSET-fallback}", "fallback"),
    ("${SET:-fallback}", "value"),
    ("${SET:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${UNSET+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET:-${SET}}", "value"),
    ("${UNSET:-}", ""),
    ("$$SET", "$SET"),
    ("$${SET}", "${SET}"),
    ("cost: 5$", "cost: 5$"),
    ("a $ b", "a $ b"),
    ("db:${PORT}", "db:5432"),
])
def test_every_form_is_filled_in(text: str, expected: str) -> None:
    assert substitute(text, VARIABLES) == expected


@pytest.mark.parametrize("text, message", [
    ("${UNSET}", "variable UNSET is not set; set it in Steward's environment or in .env, "
                 "or write ${UNSET:-} to allow it empty"),
    ("${UNSET:?must be set}", "variable UNSET is not set: must be set"),
    ("${EMPTY:?no empty}", "variable EMPTY is not set: no empty"),
    ("${UNSET?}", "variable UNSET is not set: required"),
    ("${SET", "unterminated ${...}: add the closing '}' (write $$ for a literal $)"),
    ("${1X}", "invalid variable reference ${1X}: a name is letters, digits and '_', not "
              "starting with a digit"),
    ("${SET:x}", "invalid variable reference ${SET:x}; use ${SET}, ${SET:-default} or "
                 "${SET:?message}"),
])
def test_missing_and_malformed_references_are_errors(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as caught:
        substitute(text, VARIABLES)
    assert str(caught.value) == message


def test_an_empty_required_value_is_allowed_without_the_colon() -> None:
    assert substitute("${EMPTY?must be set}", VARIABLES) == ""


def test_missing_variables_are_reported_with_file_line_and_no_value(tmp_path: Path) -> None:
    write_state(tmp_path, """
        services:
          db:
            category: infrastructure
            image: postgres:${PG_VERSION:-16}-alpine
            environment:
              POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?must be set}
              OTHER: ${OTHER_SECRET}
    """)
    with pytest.raises(DesiredStateError) as caught:
        load_directory(tmp_path, environ={"OTHER_SECRET_X": "hunter2"})
    assert [str(e).removeprefix(f"{tmp_path.name}/") for e in caught.value.errors] == [
        "services.yaml:6: services.db.environment.POSTGRES_PASSWORD: variable "
        "POSTGRES_PASSWORD is not set: must be set",
        "services.yaml:7: services.db.environment.OTHER: variable OTHER_SECRET is not set; "
        "set it in Steward's environment or in .env, or write ${OTHER_SECRET:-} to allow it "
        "empty",
    ]
    assert "hunter2" not in str(caught.value)


def test_values_come_from_dot_env_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("# local settings\nGPU_LAYERS=20\nexport TAG='16'\n"
                                   "PASSWORD=\"from-file\"\n")
    write_state(tmp_path, """
        services:
          llm:
            category: ai
            image: postgres:${TAG}
            command: serve --layers ${GPU_LAYERS:-35}
            environment: {PASSWORD: "${PASSWORD}", LITERAL: "$$HOME"}
    """)
    spec = load_directory(tmp_path, environ={"PASSWORD": "from-env"}).services["llm"]
    assert spec.image == "postgres:16"
    assert spec.command == ("serve", "--layers", "20")
    assert dict(spec.environment) == {"PASSWORD": "from-env", "LITERAL": "$HOME"}


def test_a_changed_variable_changes_the_spec_hash(tmp_path: Path) -> None:
    write_state(tmp_path, "services:\n  s: {category: ai, image: 'x:${TAG}'}\n")
    first = load_directory(tmp_path, environ={"TAG": "1"}).services["s"]
    second = load_directory(tmp_path, environ={"TAG": "2"}).services["s"]
    assert first.field_hashes()["image"] != second.field_hashes()["image"]


def test_a_malformed_dot_env_line_is_reported_without_its_text(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GOOD=1\nhunter2 is my password\n")
    write_state(tmp_path, "services:\n  s: {category: ai, image: x}\n")
    with pytest.raises(DesiredStateError) as caught:
        load_directory(tmp_path, environ={})
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path.name}/.env:2: not of the form NAME=value (the line is not shown)"]


def test_env_file_reader_strips_quotes_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("A=1 # note\nB='two words'\n\n# c\nexport C=\"3\"\nD=\n")
    assert read_env_file(path) == ({"A": "1", "B": "two words", "C": "3", "D": ""}, [])
