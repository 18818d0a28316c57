"""The SARIF 2.1.0 JSON schema, for validating reports.

No PyPI package ships it; Microsoft's SARIF multitool does, on the npm registry. It is fetched
once (pinned version, checked digests) into `.cache/` beside the repository and reused.
"""

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx

from tests.support.databases import REPO_ROOT

TARBALL = (
    "https://registry.npmjs.org/@microsoft/sarif-multitool-linux/-/sarif-multitool-linux-5.7.0.tgz"
)
TARBALL_SHA1 = "c4336533d697196caf44dbce07394df2cbf90eee"  # npm's dist.shasum
MEMBER = "package/sarif-2.1.0.json"
SCHEMA_SHA256 = "1c49a0f2b60444c71bb14878e21e0d882198eff4c539861b133093ad89ed798c"
CACHED = REPO_ROOT / ".cache" / "sarif-2.1.0.json"


def sarif_schema() -> dict[str, Any]:
    if not CACHED.is_file() or hashlib.sha256(CACHED.read_bytes()).hexdigest() != SCHEMA_SHA256:
        _fetch(CACHED)
    schema: dict[str, Any] = json.loads(CACHED.read_bytes())
    return schema


def _fetch(target: Path) -> None:
    response = httpx.get(TARBALL, timeout=300, follow_redirects=True)
    response.raise_for_status()
    assert hashlib.sha1(response.content).hexdigest() == TARBALL_SHA1, "tarball digest differs"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        assert member is not None, f"{MEMBER} missing from {TARBALL}"
        data = member.read()
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256, "schema digest differs"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
