"""The stack_bringup notebook's parameters.  Running it is the workbook table's job
(tests/notebooks/workbook.py): strict nbval, a headless `mpc run` and the browser test, each
bringing the core up in local mode on ports of its own and taking it down after."""

from __future__ import annotations

from mpc_lib.runs import SHIPPED_NOTEBOOKS_DIR, declared_parameters, validate_parameters

NOTEBOOK = SHIPPED_NOTEBOOKS_DIR / "stack_bringup.ipynb"


def test_the_notebook_declares_profiles_mode_and_timeout() -> None:
    declared = declared_parameters(NOTEBOOK)
    assert list(declared) == ["profiles", "mode", "timeout"]
    assert declared["mode"].default == "auto" and declared["profiles"].default == ["core"]
    checked = validate_parameters(NOTEBOOK, {"profiles": "core,dify", "mode": "docker"})
    assert checked == {"profiles": ["core", "dify"], "mode": "docker"}
