"""Settings: embedded defaults, and a bad variable named in one line at start-up."""

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings


def test_embedded_defaults_live_under_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DATABASE_URL", "NFS_SHARE_ROOT_PATH", "DASK_SCHEDULER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings(DATA_DIR=tmp_path / "d")
    assert s.DATABASE_URL == f"sqlite:///{tmp_path / 'd' / 'service.db'}"
    assert s.NFS_SHARE_ROOT_PATH == tmp_path / "d" / "shared"
    assert s.DASK_SCHEDULER_ADDRESS == ""
    assert s.SQLFLUFF_DIALECT == "ansi"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DASK_SCHEDULER_ADDRESS", "localhost:8786"),
        ("CONSUL_PORT", "99999"),
        ("LINT_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_bad_value_stops_with_one_line_naming_it(name: str, value: str, tmp_path: Path) -> None:
    code = "from core.settings import load_settings_or_exit; load_settings_or_exit()"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={name: value, "PATH": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"invalid setting {name}:")
    assert "Traceback" not in proc.stderr
