"""The package root is the contract: a sorted, complete __all__ and a light import."""

import subprocess
import sys

import mpc_lib


def test_all_is_sorted_and_matches_the_public_names() -> None:
    assert mpc_lib.__all__ == sorted(mpc_lib.__all__)
    eager = {
        name
        for name, value in vars(mpc_lib).items()
        if not name.startswith("_") and callable(value) and value.__module__.startswith("mpc_lib")
    }
    lazy = set(mpc_lib._LAZY)
    assert eager | lazy == set(mpc_lib.__all__) - {"ProviderName", "Source"}  # two Literal types
    assert dir(mpc_lib) == mpc_lib.__all__
    for name in mpc_lib.__all__:  # every lazy name really is where the table says
        assert getattr(mpc_lib, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = mpc_lib.Nope  # type: ignore[attr-defined]


def test_every_exported_exception_is_an_mpc_error_with_an_exit_code() -> None:
    errors = [
        value
        for name in mpc_lib.__all__
        if isinstance(value := getattr(mpc_lib, name), type) and issubclass(value, BaseException)
    ]
    assert mpc_lib.MpcError in errors and mpc_lib.SyncError in errors
    for error in errors:
        assert issubclass(error, mpc_lib.MpcError), error
        assert error is mpc_lib.SyncError or 1 <= error.exit_code <= 7, error


def test_every_error_class_in_errors_module_is_exported() -> None:
    from mpc_lib import errors

    defined = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, mpc_lib.MpcError)
    }
    assert defined <= set(mpc_lib.__all__)


def test_import_does_not_pull_notebook_dependencies() -> None:
    code = (
        "import sys, mpc_lib; "
        "heavy = ['pandas', 'plotly', 'papermill', 'ipywidgets', 'nbconvert', 'httpx', "
        "'uvicorn', 'fastapi', 'openapi_spec_validator']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_imports_without_posix_only_modules() -> None:
    """No fcntl (or other POSIX-only module) on the import path: mpc_lib imports on Windows."""
    code = "import sys; sys.modules['fcntl'] = None; import mpc_lib, mpc_lib.cli, mpc_lib.registry"
    subprocess.run([sys.executable, "-c", code], check=True)
