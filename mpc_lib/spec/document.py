"""Load an OpenAPI document from JSON or YAML, keeping a way back to each value's line:column.

Parsing uses the fast C parsers; positions are found only when a finding needs one,
by walking the source text along the finding's JSON pointer (JSON) or the composed
YAML node tree.  So a 10 MB spec loads in well under a second, and each located
finding costs only the containers on its path.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import SpecError
from ..storage import atomic_write_text

__all__ = [
    "SUPPORTED_VERSIONS",
    "Location",
    "SpecDocument",
    "SpecFormat",
    "escape_token",
    "json_pointer",
    "load_spec",
    "parse_spec",
    "resolve_pointer",
    "spec_from_dict",
    "split_pointer",
]

SpecFormat = Literal["json", "yaml"]
SUPPORTED_VERSIONS = ("3.0", "3.1")

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-[0-9A-Za-z.-]+)?$")
_WS = re.compile(r"[ \t\n\r]*")
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Location:
    """A 1-based line and column in the source file."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


def escape_token(token: str | int) -> str:
    """One JSON pointer token, escaped (`/` -> `~1`, `~` -> `~0`)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def json_pointer(*parts: str | int) -> str:
    """A JSON pointer from unescaped parts: ("paths", "/models") -> "/paths/~1models"."""
    return "".join("/" + escape_token(part) for part in parts)


def split_pointer(pointer: str) -> list[str]:
    """The unescaped tokens of a JSON pointer ("" is the whole document)."""
    if pointer in ("", "#"):
        return []
    pointer = pointer.removeprefix("#")
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def resolve_pointer(data: Any, pointer: str) -> Any:
    """The value at `pointer` in `data`; KeyError naming the first token that is not there."""
    node = data
    for token in split_pointer(pointer):
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise KeyError(token)
    return node


@dataclass
class SpecDocument:
    """A parsed OpenAPI document, its source text, and positions on demand."""

    data: dict[str, Any]
    text: str
    format: SpecFormat
    name: str
    path: Path | None = None
    _locator: _JsonLocator | _YamlLocator | None = field(default=None, repr=False)
    _lines: list[int] | None = field(default=None, repr=False)

    @property
    def version(self) -> str:
        """The `openapi` field, e.g. "3.1.0"."""
        return str(self.data.get("openapi", ""))

    @property
    def minor(self) -> str:
        """ "3.0" or "3.1"."""
        return ".".join(self.version.split(".")[:2])

    def locate(self, pointer: str) -> Location | None:
        """Where the value at `pointer` starts (its key, for an object member); None if absent."""
        if self._locator is None:
            self._locator = (
                _JsonLocator(self.text) if self.format == "json" else _YamlLocator(self.text)
            )
        try:
            found = self._locator.locate(split_pointer(pointer))
        except (ValueError, IndexError, yaml.YAMLError):
            return None
        if found is None:
            return None
        if isinstance(found, Location):
            return found
        return self._offset_location(found)

    def where(self, pointer: str) -> str:
        """`file:line:column` for `pointer`, or just the file when it cannot be placed."""
        location = self.locate(pointer)
        return f"{self.name}:{location}" if location else self.name

    def _offset_location(self, offset: int) -> Location:
        if self._lines is None:
            self._lines = [m.start() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_left(self._lines, offset)
        start = self._lines[line - 1] + 1 if line else 0
        return Location(line + 1, offset - start + 1)


def load_spec(path: Path | str, *, name: str | None = None) -> SpecDocument:
    """Read and parse an OpenAPI 3.0/3.1 file; SpecError (exit 2) names what is wrong and where.

    `name` is how findings name the file (default: `path` as given), e.g. the path a user
    typed rather than where it was found.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise SpecError("is a directory, not an OpenAPI file", path=path) from None
    except FileNotFoundError:
        raise SpecError("no such file", path=path) from None
    except OSError as exc:
        raise SpecError(f"cannot read ({exc.strerror or exc})", path=path) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    suffix = path.suffix.lower()
    fmt: SpecFormat | None = (
        "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
    )
    return parse_spec(text, name=name or str(path), path=path, fmt=fmt)


def parse_spec(
    text: str, *, name: str = "<spec>", path: Path | None = None, fmt: SpecFormat | None = None
) -> SpecDocument:
    """Parse OpenAPI text (JSON or YAML; guessed from the first character when `fmt` is None)."""
    if not text.strip():
        raise SpecError("empty file: expected an OpenAPI document", path=name)
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("{", "[") else "yaml"
    data = _parse_json(text, name) if fmt == "json" else _parse_yaml(text, name)
    document = SpecDocument(data=_expect_object(data, name), text=text, format=fmt, name=name)
    document.path = path
    _check_version(document)
    return document


def write_spec(data: dict[str, Any], out: Path | str) -> Path:
    """Write a spec atomically: YAML for a .yaml/.yml name, else JSON indented by two."""
    out = Path(out)
    if out.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(out, text)


def spec_from_dict(data: dict[str, Any], *, name: str = "<spec>") -> SpecDocument:
    """A document built in memory (an export, a merge); positions refer to its JSON dump."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    document = SpecDocument(data=_expect_object(data, name), text=text, format="json", name=name)
    _check_version(document)
    return document


# --- parsing -------------------------------------------------------------------------


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"invalid JSON: {exc.msg}", path=name, line=exc.lineno, column=exc.colno
        ) from None
    except RecursionError:
        raise SpecError("invalid JSON: nested too deeply", path=name) from None


def _yaml_loader() -> type[yaml.SafeLoader]:
    """A safe loader that keeps timestamps as text (JSON has no dates), C-accelerated if built."""
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc, valid-type]
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    return _Loader


_LOADER = _yaml_loader()


def _parse_yaml(text: str, name: str) -> Any:
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        what = exc.problem or exc.context or "syntax error"
        raise SpecError(f"invalid YAML: {what}", path=name, line=line, column=column) from None
    except (yaml.YAMLError, RecursionError) as exc:
        raise SpecError(f"invalid YAML: {exc}", path=name) from None
    try:
        return _json_keys(data, {}, set())
    except RecursionError:
        raise SpecError("invalid YAML: nested too deeply", path=name) from None
    except ValueError as exc:
        raise SpecError(f"invalid YAML: {exc}", path=name) from None


def _json_keys(node: Any, done: dict[int, Any], active: set[int]) -> Any:
    """YAML allows `200:` (an int key) where JSON has "200"; make every key a string.

    Aliases stay shared (`done`), so anchors cannot blow up into copies; an alias inside
    its own anchor is a cycle JSON cannot hold.
    """
    if not isinstance(node, (dict, list)):
        return node
    ident = id(node)
    if ident in done:
        return done[ident]
    if ident in active:
        raise ValueError("an alias refers to its own anchor (a cycle JSON cannot hold)")
    active.add(ident)
    if isinstance(node, dict):
        result: Any = {
            (k if isinstance(k, str) else _key_text(k)): _json_keys(v, done, active)
            for k, v in node.items()
        }
    else:
        result = [_json_keys(v, done, active) for v in node]
    active.discard(ident)
    done[ident] = result
    return result


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else str(key)


def _expect_object(data: Any, name: str) -> dict[str, Any]:
    if isinstance(data, dict):
        return data
    kind = {list: "a list", str: "plain text", int: "a number", float: "a number"}.get(
        type(data), type(data).__name__
    )
    raise SpecError(f"not an OpenAPI document: the file holds {kind}, not an object", path=name)


def _check_version(document: SpecDocument) -> None:
    data = document.data
    if "openapi" not in data:
        if "swagger" in data:
            raise SpecError(
                f"Swagger {data['swagger']} is not supported: convert it to OpenAPI 3.0 or 3.1",
                path=document.name,
            )
        keys = ", ".join(sorted(map(str, data))[:6]) or "none"
        raise SpecError(
            f"not an OpenAPI document: no 'openapi' field (top-level keys: {keys})",
            path=document.name,
        )
    version = data["openapi"]
    match = _VERSION.match(version) if isinstance(version, str) else None
    minor = f"{match.group(1)}.{match.group(2)}" if match else None
    if minor not in SUPPORTED_VERSIONS:
        location = document.locate("/openapi")
        raise SpecError(
            f"openapi: {version!r} is not a supported version (expected 3.0.x or 3.1.x)",
            path=document.name,
            line=location.line if location else None,
            column=location.column if location else None,
        )


# --- positions -----------------------------------------------------------------------


class _JsonLocator:
    """Finds the offset of a pointer in JSON text, indexing each container it passes once."""

    def __init__(self, text: str) -> None:
        self.text = text
        start = _WS.match(text, 0)
        self.root = start.end() if start else 0
        # container offset -> {key: (key offset, value offset)} or [value offsets]
        self._index: dict[int, dict[str, tuple[int, int]] | list[int]] = {}

    def locate(self, tokens: list[str]) -> int | None:
        offset, key_offset = self.root, self.root
        for token in tokens:
            members = self._members(offset)
            if isinstance(members, dict):
                if token not in members:
                    return None
                key_offset, offset = members[token]
            elif isinstance(members, list):
                if not token.isdigit() or int(token) >= len(members):
                    return None
                offset = key_offset = members[int(token)]
            else:
                return None
        return key_offset

    def _members(self, offset: int) -> dict[str, tuple[int, int]] | list[int] | None:
        if offset in self._index:
            return self._index[offset]
        text = self.text
        opener = text[offset : offset + 1]
        if opener not in ("{", "["):
            return None
        members: dict[str, tuple[int, int]] | list[int]
        pos = self._ws(offset + 1)
        if opener == "{":
            members = {}
            while text[pos] != "}":
                key, after = scanstring(text, pos + 1)
                colon = self._ws(after)
                value = self._ws(colon + 1)
                members[key] = (pos, value)
                pos = self._ws(self._skip(value))
                if text[pos] == ",":
                    pos = self._ws(pos + 1)
        else:
            members = []
            while text[pos] != "]":
                members.append(pos)
                pos = self._ws(self._skip(pos))
                if text[pos] == ",":
                    pos = self._ws(pos + 1)
        self._index[offset] = members
        return members

    def _ws(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def _skip(self, pos: int) -> int:
        """The offset just past the JSON value starting at `pos` (the C scanner does the work)."""
        return int(_SCAN(self.text, pos)[1])


class _YamlLocator:
    """Finds a pointer's node in the composed YAML tree (composed once, on first use)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._root: yaml.Node | None = None

    def locate(self, tokens: list[str]) -> Location | None:
        if self._root is None:
            self._root = yaml.compose(self.text, Loader=_LOADER)
        node = self._root
        mark = node.start_mark if node is not None else None
        for token in tokens:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if str(key.value) == token:
                        node, mark = value, key.start_mark
                        break
                else:
                    return None
            elif isinstance(node, yaml.SequenceNode):
                if not token.isdigit() or int(token) >= len(node.value):
                    return None
                node = node.value[int(token)]
                mark = node.start_mark
            else:
                return None
        if mark is None:
            return None
        return Location(mark.line + 1, mark.column + 1)
