"""`mpc spec client`: openapi-python-client generates a client, and every module of it imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from spec_fixtures import HUB_SPEC, SpecWriter, minimal

from mpc_lib.errors import SpecError
from mpc_lib.spec import generate_client

pytest.importorskip("openapi_python_client")


def test_the_hub_spec_gives_a_client_that_imports(tmp_path: Path) -> None:
    result = generate_client(HUB_SPEC, tmp_path / "client")
    assert result.package == "mpc_api_hub_client"
    assert result.warnings == []
    package = tmp_path / "client" / result.package
    assert (package / "api" / "fal_platform" / "fal_get_pricing.py").is_file()
    assert (package / "api" / "comet_api" / "comet_chat_completion.py").is_file()
    assert result.modules > 20
    # the generated functions are typed and callable with the generated models
    code = (
        "from mpc_api_hub_client import AuthenticatedClient; "
        "from mpc_api_hub_client.api.fal_platform import fal_get_pricing; "
        "from mpc_api_hub_client.models import FalPrice; "
        "print(callable(fal_get_pricing.sync), FalPrice.from_dict({'endpoint_id': 'a',"
        " 'unit_price': 1, 'unit': 'image', 'currency': 'USD'}).unit)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path / "client", capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "True image"


def test_generating_again_replaces_the_client(tmp_path: Path, write_spec: SpecWriter) -> None:
    out = tmp_path / "client"
    generate_client(HUB_SPEC, out)
    result = generate_client(write_spec(minimal()), out)
    assert result.package == "mini_hub_client"
    assert not (out / "mpc_api_hub_client").exists()


def test_a_file_that_is_not_openapi_is_refused_before_generating(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    with pytest.raises(SpecError, match="no 'openapi' field"):
        generate_client(write_spec('{"hello": 1}'), tmp_path / "client")
    assert not (tmp_path / "client").exists()


def test_a_folder_that_holds_something_else_is_never_touched(
    tmp_path: Path, write_spec: SpecWriter
) -> None:
    out = tmp_path / "src"
    out.mkdir()
    (out / "keep.py").write_text("x = 1\n")
    with pytest.raises(SpecError, match="is not a client generated here"):
        generate_client(write_spec(minimal()), out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.py"]
