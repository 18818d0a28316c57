"""The SQLFluff CLI as the oracle (docs/api.md, Results): `sqlfluff lint --format json` and
`sqlfluff fix` on the same files with the same effective config, run as a subprocess in a clean
working directory."""

import configparser
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from linting.engine import effective_config_text, service_overrides

SQLFLUFF = Path(sys.executable).parent / "sqlfluff"


def cli_violations(
    files: list[Path], dialect: str, max_bytes: int, workdir: Path
) -> dict[str, list[dict[str, Any]]]:
    """Violations per absolute file path, as the CLI prints them, for a dialect-only job."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "oracle.sqlfluff"
    config.write_text(effective_config_text(dialect, max_bytes))
    return _lint(files, ["--dialect", dialect, "--config", str(config)], workdir)


def job_flags(options: dict[str, Any]) -> list[str]:
    """The CLI flags of a job's options (dialect, templater, rules, exclude_rules)."""
    flags: list[str] = []
    for key, flag in (("dialect", "--dialect"), ("templater", "--templater")):
        if options.get(key):
            flags += [flag, options[key]]
    for key, flag in (("rules", "--rules"), ("exclude_rules", "--exclude-rules")):
        if options.get(key):
            flags += [flag, ",".join(options[key])]
    return flags


def _job_config_file(config_text: str | None, max_bytes: int, workdir: Path) -> Path:
    """The job's config text plus the service's own overrides, as one `--config` file (the
    CLI takes one; the service passes its overrides separately, with the same precedence)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(config_text or "")
    if not parser.has_section("sqlfluff"):
        parser.add_section("sqlfluff")
    for key, value in service_overrides(max_bytes).items():
        parser.set("sqlfluff", key, str(value))
    path = workdir / "oracle-job.cfg"
    with path.open("w") as handle:
        parser.write(handle)
    return path


def cli_job_violations(
    files: list[Path],
    options: dict[str, Any],
    config_text: str | None,
    max_bytes: int,
    workdir: Path,
) -> dict[str, list[dict[str, Any]]]:
    """Violations per absolute path, as `sqlfluff lint --config <job config> <flags>` prints."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = _job_config_file(config_text, max_bytes, workdir)
    return _lint(files, ["--config", str(config), *job_flags(options)], workdir)


def cli_fix(
    files: list[Path],
    options: dict[str, Any],
    config_text: str | None,
    max_bytes: int,
    workdir: Path,
) -> None:
    """`sqlfluff fix -f` in place on `files` (copies: the caller's), with the job's config."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = _job_config_file(config_text, max_bytes, workdir)
    proc = subprocess.run(
        [
            str(SQLFLUFF),
            "fix",
            "-f",
            "--config",
            str(config),
            *job_flags(options),
            *map(str, files),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), f"sqlfluff fix failed ({proc.returncode}): {proc.stderr}"


def _lint(files: list[Path], flags: list[str], workdir: Path) -> dict[str, list[dict[str, Any]]]:
    proc = subprocess.run(
        [str(SQLFLUFF), "lint", "--format", "json", *flags, "--processes", "2", *map(str, files)],
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


def cli_tree_violations(tree: Path, flags: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Violations per absolute path of `sqlfluff lint .` run at the top of `tree`, as a team
    runs it in its repository: which files are linted is SQLFluff's own choice there."""
    proc = subprocess.run(
        [str(SQLFLUFF), "lint", "--format", "json", *flags, "."],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode in (0, 1), f"sqlfluff CLI failed: {proc.stderr[-2000:]}"
    return {str((tree / r["filepath"]).resolve()): r["violations"] for r in json.loads(proc.stdout)}
