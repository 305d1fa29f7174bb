"""The package root is the contract: a sorted, complete __all__ and a light import."""

import subprocess
import sys

import mpc_lib


def test_all_is_sorted_and_matches_the_public_names() -> None:
    assert mpc_lib.__all__ == sorted(mpc_lib.__all__)
    public = {
        name
        for name, value in vars(mpc_lib).items()
        if not name.startswith("_") and not isinstance(value, type(mpc_lib))
    }
    assert public == set(mpc_lib.__all__)


def test_every_error_is_an_mpc_error_with_an_exit_code() -> None:
    errors = [
        getattr(mpc_lib, name)
        for name in mpc_lib.__all__
        if name.endswith(("Error", "Limited", "NotFound")) or name == "EmptyCatalog"
    ]
    assert len(errors) == 15
    for error in errors:
        assert issubclass(error, mpc_lib.MpcError)
        assert error.exit_code >= 1


def test_import_does_not_pull_notebook_dependencies() -> None:
    code = (
        "import sys, mpc_lib; "
        "heavy = ['pandas', 'plotly', 'papermill', 'ipywidgets', 'nbconvert']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
