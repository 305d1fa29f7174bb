"""The install hints: one table, each naming an extra pyproject.toml really has."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

from mpc_lib.errors import ConfigError
from mpc_lib.extras import INSTALL_HINTS, install_hint, require
from mpc_lib.schedule import validate_cron

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_every_hint_installs_an_extra_of_the_package() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    for extra, hint in INSTALL_HINTS.items():
        assert extra in extras, extra
        assert hint == f"pip install 'mpc-workbench[{extra}]'"


def test_a_package_in_several_extras_has_one_pin() -> None:
    """e.g. kubernetes-validate, which both the stack and the schedule extras bring."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    pins: dict[str, set[str]] = {}
    for requirement in [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]:
        name = re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()
        if name != "mpc-workbench":  # the dev extra's self-reference
            pins.setdefault(name, set()).add(requirement)
    assert {name: pin for name, pin in pins.items() if len(pin) > 1} == {}


def test_an_unknown_extra_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown extra 'schedules'; known: api, gateway"):
        install_hint("schedules")


def test_a_missing_module_names_the_extra_that_brings_it() -> None:
    with pytest.raises(ConfigError) as caught:
        require("mpc_no_such_module", "widgets", "spec")
    assert str(caught.value) == (
        "widgets need mpc_no_such_module, which is not installed: pip install 'mpc-workbench[spec]'"
    )


def test_schedules_without_croniter_name_the_schedule_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "croniter", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"need croniter, .*mpc-workbench\[schedule\]'$"):
        validate_cron("0 6 * * *")
