"""Job mixes: the file formats, and every kind of bad input named by file, line and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pricing_helpers import record, registry

from mpc_lib.errors import ConfigError
from mpc_lib.pricing import JobMix, PriceBook, estimate_lines, example_job_mix, load_job_mix

GOOD_YAML = """\
currency: USD
lines:
  - model: fal-ai/flux/dev      # per-unit
    units: 200
  - model: gpt-4o               # per-token
    input_tokens: 1200
    output_tokens: 300
    calls: 1000
    label: support
"""


@pytest.fixture
def book() -> PriceBook:
    return PriceBook(
        registry([
            record("fal", "fal-ai/flux/dev", "image", 0.025, category="text-to-image"),
            record("fal", "fal-ai/flux/schnell", "image", 0.003, category="text-to-image"),
            record("fal", "fal-ai/kling/video", "video_second", 0.1),
            record("fal", "fal-ai/euro", "image", 0.02, currency="EUR"),
            record("comet", "gpt-4o", "1M tokens", 2.5, output=10.0),
        ])
    )  # fmt: skip


def _write(tmp_path: Path, text: str, name: str = "mix.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_mix_loads_with_file_lines(tmp_path: Path) -> None:
    mix = load_job_mix(_write(tmp_path, GOOD_YAML))
    assert mix.currency == "USD" and len(mix.lines) == 2
    first, second = mix.lines
    assert (first.model, first.units, first.calls, first.line, first.basis) == (
        "fal-ai/flux/dev",
        200.0,
        None,
        3,
        "per_unit",
    )
    assert (second.input_tokens, second.output_tokens, second.calls, second.label) == (
        1200.0,
        300.0,
        1000,
        "support",
    )
    assert second.basis == "per_token" and second.line == 5


def test_json_mix_is_the_same_mix(tmp_path: Path) -> None:
    data = {
        "currency": "USD",
        "lines": [
            {"model": "fal-ai/flux/dev", "units": 200},
            {"model": "gpt-4o", "input_tokens": 1200, "output_tokens": 300, "calls": 1000,
             "label": "support"},
        ],
    }  # fmt: skip
    from_json = load_job_mix(_write(tmp_path, json.dumps(data, indent=2), "mix.json"))
    from_yaml = load_job_mix(_write(tmp_path, GOOD_YAML))
    assert [line.model_dump(mode="json") for line in from_json.lines] == [
        line.model_dump(mode="json") for line in from_yaml.lines
    ]
    assert from_json.lines[1].line == 8  # JSON lines are found too


def test_the_shipped_example_is_package_data_and_valid() -> None:
    path = example_job_mix()
    assert path.is_file() and path.parent.name == "examples"
    mix = load_job_mix(path)
    assert {line.basis for line in mix.lines} == {"per_unit", "per_token"}


_A = "lines:\n  - model: a\n"  # a line with a model and nothing else yet
_ONE = "lines:\n  - model: a\n    units: 1\n"
BAD = [
    (_A + "    units: 0\n", r"mix.yaml:3: lines\[0\].units: must be a number > 0, got 0"),
    (_A + "    units: -5\n", r"mix.yaml:3: lines\[0\].units: must be a number > 0, got -5"),
    (_A + "    input_tokens: 0\n", r"lines\[0\].input_tokens: must be a number > 0"),
    (
        _ONE + "    calls: 2.5\n",
        r"mix.yaml:4: lines\[0\].calls: must be a whole number >= 1, got 2.5",
    ),
    (_ONE + "    calls: 0\n", r"lines\[0\].calls: must be a whole number >= 1, got 0"),
    (_A + "    units: yes\n", r"lines\[0\].units: must be a number > 0, got True"),
    (_A + "    units: .inf\n", r"lines\[0\].units: must be a number > 0, got inf"),
    (_A + "    unit: 3\n", r"mix.yaml:3: lines\[0\].unit: unknown key \(did you mean 'units'\?\)"),
    (_A, r"mix.yaml:2: lines\[0\]: needs units \(per-unit\) or input_tokens/output_tokens"),
    (_ONE + "    input_tokens: 5\n", r"lines\[0\]: give units .* not both"),
    ("lines:\n  - units: 1\n", r"lines\[0\].model: needs a model id, got None"),
    ("lines:\n  - just a string\n", r"lines\[0\]: each line is a mapping"),
    ("lines: []\n", r"mix.yaml:1: lines: must be a non-empty list"),
    ("currency: dollars\n" + _ONE, r"mix.yaml:1: currency: must be a 3-letter currency code"),
    ("curency: USD\n" + _ONE, r"mix.yaml:1: curency: unknown key \(did you mean 'currency'\?\)"),
    ("", r"mix.yaml: a job mix is a mapping with `lines`, got empty"),
    ("- model: a\n", r"a job mix is a mapping with `lines`, got a list"),
    (_A + "    units: [1\n", r"mix.yaml:4:1: not valid YAML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_files_name_the_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_job_mix(_write(tmp_path, text))
    assert info.value.exit_code == 2


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "lines:\n  - model: a\n    units: 0\n  - model: b\n    calls: 1.5\n    units: 1\n"
    with pytest.raises(ConfigError) as info:
        load_job_mix(_write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'mix.yaml'}: 2 problems: ")
    assert "mix.yaml:3: lines[0].units" in message and "mix.yaml:5: lines[1].calls" in message


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mix.json:3:1: not valid JSON"):
        load_job_mix(_write(tmp_path, '{"lines": [\n  {"model": "a", "units": 1}\n', "mix.json"))


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such job-mix file"):
        load_job_mix(tmp_path / "nope.yaml")
    path = _write(tmp_path, "x")
    path.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_job_mix(path)


# --- problems only the registry can tell -----------------------------------------------


def _problems(tmp_path: Path, book: PriceBook, text: str) -> str:
    mix = load_job_mix(_write(tmp_path, text))
    with pytest.raises(ConfigError) as info:
        estimate_lines(book, mix)
    assert info.value.exit_code == 2
    return str(info.value)


def test_unknown_model_gets_close_matches_and_its_line(tmp_path: Path, book: PriceBook) -> None:
    message = _problems(tmp_path, book, "lines:\n  - model: fal-ai/flux/deb\n    units: 3\n")
    assert "mix.yaml:2: lines[0].model: unknown model 'fal-ai/flux/deb'" in message
    assert "did you mean fal-ai/flux/dev, fal-ai/flux/schnell" in message


def test_token_line_on_a_per_unit_model_and_the_reverse(tmp_path: Path, book: PriceBook) -> None:
    text = (
        "lines:\n  - model: fal-ai/flux/dev\n    input_tokens: 100\n"
        "  - model: gpt-4o\n    units: 3\n"
    )
    message = _problems(tmp_path, book, text)
    assert "2 problems" in message
    assert (
        "mix.yaml:2: lines[0]: fal:fal-ai/flux/dev is priced per_unit (image): give units"
        in message
    )
    assert (
        "mix.yaml:4: lines[1]: comet:gpt-4o is priced per_token (1M input tokens): "
        "give input_tokens/output_tokens" in message
    )


def test_mixed_currencies_are_refused(tmp_path: Path, book: PriceBook) -> None:
    text = (
        "lines:\n  - model: fal-ai/flux/dev\n    units: 1\n  - model: fal-ai/euro\n    units: 1\n"
    )
    message = _problems(tmp_path, book, text)
    assert (
        "mix.yaml:4: lines[1].model: mixed currencies: fal:fal-ai/euro is priced in EUR" in message
    )
    eur = "currency: EUR\nlines:\n  - model: fal-ai/euro\n    units: 2\n"
    estimate = estimate_lines(book, load_job_mix(_write(tmp_path, eur)))
    assert estimate.total == pytest.approx(0.04) and estimate.currency == "EUR"


def test_from_data_validates_the_same_way() -> None:
    with pytest.raises(ConfigError, match=r"job mix: lines\[0\].units: must be a number > 0"):
        JobMix.from_data({"lines": [{"model": "a", "units": 0}]})
