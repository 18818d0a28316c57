"""Every argument of the client says what it is for; `--version` names the package; the paths
given are sent and shown as `sqlfluff lint` takes and shows them."""

import argparse
from pathlib import Path

import pytest
from sqlfluff_service_client import __version__
from sqlfluff_service_client.cli import _display, _parser, _where
from sqlfluff_service_client.service import ServiceError


def test_every_argument_has_help() -> None:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for command in sub.choices.values():
        missing = [a.dest for a in command._actions if not a.help]
        assert not missing, missing


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        _parser().parse_args(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"sqlfluff-service-client {__version__}\n"


def test_the_service_url_and_key_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SQLFLUFF_SERVICE_URL", "https://lint.example.com")
    monkeypatch.setenv("SQLFLUFF_SERVICE_KEY", "sfs_k_s")
    args = _parser().parse_args(["submit", "models"])
    assert (args.url, args.api_key, args.format, args.wait) == (
        "https://lint.example.com", "sfs_k_s", "human", True
    )  # fmt: skip


def test_paths_are_shown_as_sqlfluff_lint_shows_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for rel in ("repo/models/a.sql", "repo/models/b.sql", "other/c.sql", "repo/x.zip"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("select 1\n")
    monkeypatch.chdir(tmp_path / "repo")

    def where(*paths: str) -> argparse.Namespace:
        args = _parser().parse_args(["submit", *paths])
        _where(args)
        return args

    folder = where("./models/")
    assert folder.folder == Path("models") and _display(folder, "a.sql") == "models/a.sql"
    named = where("models/a.sql", "models/b.sql")
    assert named.folder is None and named.base == tmp_path / "repo"
    assert _display(named, "models/b.sql") == "models/b.sql"
    outside = where("models/a.sql", "../other/c.sql")
    assert outside.base == tmp_path and _display(outside, "other/c.sql") == "../other/c.sql"
    assert where("x.zip").zip == Path("x.zip")
    with pytest.raises(ServiceError, match="nope.sql does not exist"):
        where("nope.sql")
