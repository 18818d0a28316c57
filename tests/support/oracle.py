"""The SQLFluff CLI as the oracle (SPEC §6): `sqlfluff lint --format json` on the same files
with the same effective config, run as a subprocess in a clean working directory."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from flows.lint import effective_config_text

SQLFLUFF = Path(sys.executable).parent / "sqlfluff"


def cli_violations(
    files: list[Path], dialect: str, max_bytes: int, workdir: Path
) -> dict[str, list[dict[str, Any]]]:
    """Violations per absolute file path, as the CLI prints them."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "oracle.sqlfluff"
    config.write_text(effective_config_text(dialect, max_bytes))
    proc = subprocess.run(
        [
            str(SQLFLUFF),
            "lint",
            "--format",
            "json",
            "--dialect",
            dialect,
            "--config",
            str(config),
            "--processes",
            "2",
            *map(str, files),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), (
        f"sqlfluff CLI failed ({proc.returncode}): {proc.stderr[-2000:]}"
    )
    records = json.loads(proc.stdout)
    by_path = {str(Path(r["filepath"]).resolve()): r["violations"] for r in records}
    missing = {str(f.resolve()) for f in files} - set(by_path)
    assert not missing, f"the CLI reported nothing for {sorted(missing)[:5]}"
    return by_path
