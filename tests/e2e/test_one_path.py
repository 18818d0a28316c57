"""`make up` runs production's roles by production's scripts: one role per systemd unit of
`deployments/systemd/`, each process the program its unit's start script executes. A unit added,
or a role started some other way (a LocalCluster, uvicorn directly), fails here."""

import shlex
from pathlib import Path

from tests.support.databases import REPO_ROOT
from tests.support.system import System

UNITS = REPO_ROOT / "deployments" / "systemd"


def _script_of(unit: Path) -> Path:
    [line] = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    return REPO_ROOT / "deployments" / "bin" / Path(line.removeprefix("ExecStart=")).name


def _program(script: Path) -> list[str]:
    """The command the script ends in, without its options: `exec dask worker "$X" ...` ->
    ["dask", "worker"]."""
    text = script.read_text().replace("\\\n", " ")
    [line] = [x.strip() for x in text.splitlines() if x.strip().startswith("exec ")]
    program = []
    for word in shlex.split(line, posix=False)[1:]:
        if word.startswith(("--", "$", "'", '"')):
            break
        program.append(word)
    return program


def _contains(argv: list[str], program: list[str]) -> bool:
    n = len(program)
    return any(argv[i : i + n] == program for i in range(len(argv) - n + 1))


def test_every_role_is_a_production_unit_started_by_its_script(system: System) -> None:
    units = {u.stem.removeprefix("sqlfluff-"): u for u in UNITS.glob("sqlfluff-*.service")}
    pids = system.pids()
    assert set(pids) == set(units), (sorted(pids), sorted(units))
    for role, unit in units.items():
        program = _program(_script_of(unit))
        cmdline = Path(f"/proc/{pids[role]}/cmdline").read_bytes().decode()
        argv = [Path(arg).name for arg in cmdline.split("\0") if arg]
        assert program and _contains(argv, program), (role, program, argv)
