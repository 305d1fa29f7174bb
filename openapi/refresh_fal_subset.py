"""Rebuild mpc_lib/spec/data/fal_platform.subset.json from FAL's published OpenAPI spec.

The upstream check ships only what it needs: the operations the hub uses in full
(`FAL_USED_PATHS`), plus an index (path, method, operationId, security) of every
other published operation.  Run it when FAL publishes a new spec:

    .venv/bin/python openapi/refresh_fal_subset.py [FULL_SPEC_JSON]

The default input is ../shared/seed-data/fal_platform_openapi.json; the test
`tests/spec/test_spec_upstream.py` checks the shipped subset still equals its parts.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from mpc_lib.spec.published import FAL_USED_PATHS, extract_subset
from mpc_lib.storage import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "seed-data" / "fal_platform_openapi.json"
TARGET = ROOT / "mpc_lib" / "spec" / "data" / "fal_platform.subset.json"

PROVENANCE = {
    "source_url": "https://fal.ai/docs/api-reference/platform-apis/openapi/v1.json",
    "taken_from": "tryAGI/Fal: src/libs/Fal/openapi.json @ badf521 (2026-08-21)",
    "copied_on": "2026-11-29",
    "extracted_by": "openapi/refresh_fal_subset.py",
    "shipped_in_full": list(FAL_USED_PATHS),
    "note": "other operations are listed in x-mpc-index (path, method, operationId, security)",
}


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    raw = source.read_bytes()
    full = json.loads(raw)
    provenance = {**PROVENANCE, "source_sha256": hashlib.sha256(raw).hexdigest()}
    subset = extract_subset(full, FAL_USED_PATHS, provenance)
    atomic_write_text(TARGET, json.dumps(subset, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes) from {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
