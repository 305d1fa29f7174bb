"""A job mix: what an operator plans to run, line by line, read from YAML or JSON.

    currency: USD                 # optional (default USD): every model must be priced in it
    lines:
      - model: fal-ai/flux/dev    # per-unit: units (per call) in the model's own unit
        units: 200
      - model: gpt-4o             # per-token: tokens per call, and calls
        input_tokens: 1200
        output_tokens: 300
        calls: 1000

Every problem is reported at once, each naming the file, its line and the key
(`mix.yaml:7: lines[2].units: must be a number > 0, got 0`), as one ConfigError.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from ..errors import ConfigError
from ..models import MpcModel, is_empty

__all__ = ["JobMix", "MixLine", "example_job_mix", "load_job_mix"]

_TOP_KEYS = ("currency", "lines", "name")
_LINE_KEYS = ("model", "units", "input_tokens", "output_tokens", "calls", "label")
_SHOWN_PROBLEMS = 12


def example_job_mix() -> Path:
    """The shipped example job mix (package data, so it exists outside a source checkout too)."""
    return Path(str(resources.files(__package__).joinpath("examples", "job_mix.yaml")))


class MixLine(MpcModel):
    """One line of a job mix; `index` is its 0-based position, `line` its line in the file.

    Its JSON is the line as written (None fields left out).
    """

    model_config = ConfigDict(frozen=True)

    index: int = Field(exclude=True)
    model: str
    units: float | None = Field(default=None, exclude_if=is_empty)
    input_tokens: float | None = Field(default=None, exclude_if=is_empty)
    output_tokens: float | None = Field(default=None, exclude_if=is_empty)
    calls: int | None = Field(default=None, exclude_if=is_empty)
    label: str | None = Field(default=None, exclude_if=is_empty)
    line: int | None = Field(default=None, exclude=True)

    @property
    def basis(self) -> str:
        """`per_unit` for a units line, `per_token` for a tokens line."""
        return "per_unit" if self.units is not None else "per_token"

    @property
    def call_count(self) -> int:
        """Calls, 1 when not given."""
        return self.calls or 1

    @property
    def where(self) -> str:
        """`lines[2]`, the key path of this line."""
        return f"lines[{self.index}]"


@dataclass(frozen=True)
class JobMix:
    """A validated job mix: a currency and at least one line."""

    lines: tuple[MixLine, ...]
    currency: str = "USD"
    name: str | None = None
    path: Path | None = None

    @property
    def label(self) -> str:
        """The file it came from, or `job mix`."""
        return str(self.path) if self.path is not None else "job mix"

    def at(self, line: MixLine, key: str | None = None) -> str:
        """`mix.yaml:7: lines[2].units`: where a problem is, for an error message."""
        place = f"{self.label}:{line.line}" if line.line else self.label
        return f"{place}: {line.where}" + (f".{key}" if key else "")

    def error(self, problems: list[str]) -> ConfigError:
        """One ConfigError listing `problems` (each already names its place)."""
        return ConfigError(_joined(self.label, problems))

    @classmethod
    def from_data(cls, data: Any, *, path: Path | None = None) -> JobMix:
        """Validate already-parsed data (a dict with `lines`); ConfigError lists every problem."""
        return _Checker(path, {}).mix(data)


def load_job_mix(path: Path | str) -> JobMix:
    """Read and validate a job-mix file (.yaml/.yml or .json; other names: JSON if it looks so)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such job-mix file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the job mix ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the job mix is not UTF-8 text ({exc.reason})") from None
    as_json = path.suffix.lower() == ".json" or (
        path.suffix.lower() not in (".yaml", ".yml") and text.lstrip().startswith("{")
    )
    data = _parse_json(text, path) if as_json else _parse_yaml(text, path)
    return _Checker(path, _line_numbers(text)).mix(data)


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def _parse_yaml(text: str, path: Path) -> Any:
    import yaml  # only when a YAML mix is read: keeps `import mpc_lib` light

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def _line_numbers(text: str) -> dict[tuple[Any, ...], int]:
    """File lines (1-based) of `lines[i]` and of each key, from the YAML node tree.

    JSON is YAML here too; a document the composer cannot read just has no line numbers.
    """
    import yaml  # only when a mix is read, like _parse_yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    found: dict[tuple[Any, ...], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return found
    for key_node, value_node in root.value:
        key = key_node.value
        found[(key,)] = key_node.start_mark.line + 1
        if key != "lines" or not isinstance(value_node, yaml.SequenceNode):
            continue
        for index, item in enumerate(value_node.value):
            found[("lines", index)] = item.start_mark.line + 1
            if isinstance(item, yaml.MappingNode):
                for line_key, _ in item.value:
                    found[("lines", index, line_key.value)] = line_key.start_mark.line + 1
    return found


def _close(name: str, known: tuple[str, ...]) -> str:
    hits = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {hits[0]!r}?)" if hits else f" (known: {', '.join(known)})"


def _is_number(value: Any) -> bool:
    """A finite int or float (YAML's `true` and `.inf` are not quantities)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    """Collects every problem of one job mix, each with its file line and key path."""

    def __init__(self, path: Path | None, lines: dict[tuple[Any, ...], int]) -> None:
        self.path = path
        self.lines = lines
        self.problems: list[str] = []

    def fail(self, key: tuple[Any, ...], message: str) -> None:
        line = self.lines.get(key) or (self.lines.get(key[:2]) if len(key) > 2 else None)
        label = str(self.path) if self.path is not None else "job mix"
        place = f"{label}:{line}" if line else label
        path = (
            key[0] if len(key) == 1 else f"lines[{key[1]}]" + (f".{key[2]}" if len(key) > 2 else "")
        )
        self.problems.append(f"{place}: {path}: {message}")

    def mix(self, data: Any) -> JobMix:
        label = str(self.path) if self.path is not None else "job mix"
        if not isinstance(data, Mapping):
            kind = "empty" if data is None else f"a {type(data).__name__}"
            raise ConfigError(f"{label}: a job mix is a mapping with `lines`, got {kind}")
        for key in data:
            if key not in _TOP_KEYS:
                self.fail((str(key),), f"unknown key{_close(str(key), _TOP_KEYS)}")
        currency = data.get("currency", "USD")
        if not isinstance(currency, str) or len(currency.strip()) != 3:
            self.fail(("currency",), f"must be a 3-letter currency code, got {currency!r}")
            currency = "USD"
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            self.fail(("name",), f"must be text, got {name!r}")
            name = None
        raw_lines = data.get("lines")
        lines: list[MixLine] = []
        if not isinstance(raw_lines, list) or not raw_lines:
            self.fail(("lines",), "must be a non-empty list of lines")
        else:
            for index, raw in enumerate(raw_lines):
                line = self.line(index, raw)
                if line is not None:
                    lines.append(line)
        if self.problems:
            raise ConfigError(_joined(label, self.problems))
        return JobMix(tuple(lines), currency.strip().upper(), name, self.path)

    def line(self, index: int, raw: Any) -> MixLine | None:
        at = ("lines", index)
        if not isinstance(raw, Mapping):
            self.fail(at, f"each line is a mapping with `model`, got {raw!r}")
            return None
        before = len(self.problems)
        for key in raw:
            if key not in _LINE_KEYS:
                self.fail((*at, str(key)), f"unknown key{_close(str(key), _LINE_KEYS)}")
        model = raw.get("model")
        if not isinstance(model, str) or not model.strip():
            self.fail((*at, "model"), f"needs a model id, got {model!r}")
        values: dict[str, Any] = {}
        for key in ("units", "input_tokens", "output_tokens"):
            if key in raw:
                value = raw[key]
                if not _is_number(value) or value <= 0:
                    self.fail((*at, key), f"must be a number > 0, got {value!r}")
                else:
                    values[key] = float(value)
        calls: int | None = None
        if "calls" in raw:
            given = raw["calls"]
            if _is_number(given) and given >= 1 and given == int(given):
                calls = int(given)
            else:
                self.fail((*at, "calls"), f"must be a whole number >= 1, got {given!r}")
        has_tokens = "input_tokens" in raw or "output_tokens" in raw
        if "units" in raw and has_tokens:
            self.fail(at, "give units (a per-unit model) or tokens (a per-token model), not both")
        elif "units" not in raw and not has_tokens:
            self.fail(at, "needs units (per-unit) or input_tokens/output_tokens (per-token)")
        label = raw.get("label")
        if label is not None and not isinstance(label, str):
            self.fail((*at, "label"), f"must be text, got {label!r}")
        if len(self.problems) > before:
            return None
        return MixLine(
            index=index,
            model=str(model).strip(),
            calls=calls,
            label=label,
            line=self.lines.get(at),
            **values,
        )


def _joined(label: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return problems[0]
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = (
        f"; ... {len(problems) - _SHOWN_PROBLEMS} more" if len(problems) > _SHOWN_PROBLEMS else ""
    )
    return f"{label}: {len(problems)} problems: {shown}{more}"
