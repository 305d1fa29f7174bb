"""Loading a spec: JSON and YAML with line:column, and every kind of unreadable file named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spec_fixtures import SpecWriter, minimal

from mpc_lib.errors import SpecError
from mpc_lib.spec import Location, load_spec, parse_spec
from mpc_lib.spec.document import json_pointer, split_pointer
from mpc_lib.spec.findings import finding_at

YAML_SPEC = """\
openapi: 3.0.3
info:
  title: t
  version: 2024-01-02
paths:
  /a/{id}:
    get:
      responses:
        200:
          description: ok
"""


def test_json_positions_follow_the_pointer(write_spec: SpecWriter) -> None:
    path = write_spec(minimal())
    document = load_spec(path)
    lines = path.read_text().splitlines()
    for pointer, needle in [
        ("/openapi", '"openapi"'),
        ("/paths/~1models~1pricing/get/parameters/0/name", '"name": "endpoint_id"'),
        ("/components/securitySchemes/FalKey", '"FalKey"'),
    ]:
        location = document.locate(pointer)
        assert location is not None, pointer
        assert lines[location.line - 1][location.column - 1 :].startswith(needle), pointer
    assert document.locate("/paths/~1nope") is None
    assert document.where("/openapi") == f"{path}:2:3"


def test_yaml_keeps_json_types_and_positions(write_spec: SpecWriter) -> None:
    document = load_spec(write_spec(YAML_SPEC, "spec.yaml"))
    assert document.format == "yaml"
    assert document.data["info"]["version"] == "2024-01-02"  # a date stays text
    assert "200" in document.data["paths"]["/a/{id}"]["get"]["responses"]  # an int key is text
    assert document.locate("/paths/~1a~1{id}/get/responses/200") == Location(9, 9)
    assert document.locate("/info/version") == Location(4, 3)


def test_pointers_escape_and_unescape() -> None:
    pointer = json_pointer("paths", "/a/{id}", "get", "x~y")
    assert pointer == "/paths/~1a~1{id}/get/x~0y"
    assert split_pointer(pointer) == ["paths", "/a/{id}", "get", "x~y"]


def test_a_finding_on_a_missing_value_is_placed_at_its_nearest_parent(
    write_spec: SpecWriter,
) -> None:
    document = load_spec(write_spec(minimal()))
    finding = finding_at(
        document, "lint", "r", "error", "m", "/paths/~1models~1pricing/get/operationId/zzz"
    )
    assert finding.line == document.locate("/paths/~1models~1pricing/get/operationId").line


@pytest.mark.parametrize(
    ("text", "name", "message", "line", "column"),
    [
        ("", "empty.json", "empty file", None, None),
        ("  \n\t\n", "blank.yaml", "empty file", None, None),
        ('{\n  "openapi": "3.1.0",\n  "info": {,}\n}', "bad.json", "invalid JSON", 3, 12),
        ("openapi: 3.1.0\ninfo: [1, 2\npaths: {}\n", "bad.yaml", "invalid YAML", 3, 6),
        ('["openapi"]', "list.json", "holds a list", None, None),
        ("just some notes\n", "notes.yaml", "holds plain text", None, None),
        ('{"swagger": "2.0"}', "old.json", "Swagger 2.0 is not supported", None, None),
        ('{"title": "x", "paths": {}}', "other.json", "no 'openapi' field", None, None),
        ('{"openapi": "4.0.0"}', "future.json", "not a supported version", 1, 2),
        ("a: &x [*x]\n", "loop.yaml", "alias refers to its own anchor", None, None),
    ],
)
def test_unreadable_files_are_named_with_their_position(
    write_spec: SpecWriter, text: str, name: str, message: str, line: int | None, column: int | None
) -> None:
    path = write_spec(text, name)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    error = caught.value
    assert message in str(error)
    assert str(error).startswith(str(path))
    assert (error.line, error.column) == (line, column)
    assert error.exit_code == 2
    if line is not None:
        assert f"{path}:{line}:{column}: " in str(error)


def test_missing_directory_and_binary_files_are_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "absent.json")
    with pytest.raises(SpecError, match="is a directory"):
        load_spec(tmp_path)
    binary = tmp_path / "spec.json"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(binary)


def test_the_format_is_guessed_from_the_text_without_an_extension() -> None:
    assert parse_spec(json.dumps(minimal())).format == "json"
    assert parse_spec(YAML_SPEC).format == "yaml"
