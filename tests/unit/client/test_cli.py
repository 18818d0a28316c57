"""Every argument of the client says what it is for; `--version` names the package."""

import argparse

import pytest
from sqlfluff_service_client import __version__
from sqlfluff_service_client.cli import _parser


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
