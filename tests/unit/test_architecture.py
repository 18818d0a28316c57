"""The rooms and their direction (docs/architecture.md): imports run api -> services -> flows ->
linting -> db -> core, never up; the engine knows nothing of Prefect or HTTP; the client knows
nothing of the server. Read from the source's import statements, function-local ones included."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAYERS = ["api", "services", "flows", "linting", "db", "core"]
# Third-party packages a room must not reach for (its job belongs to another room).
FORBIDDEN_LIBRARIES = {
    "core": {"sqlalchemy", "prefect", "prefect_dask", "distributed", "fastapi", "sqlfluff"},
    "db": {"prefect", "prefect_dask", "distributed", "fastapi", "starlette", "sqlfluff"},
    "linting": {"prefect", "prefect_dask", "fastapi", "starlette", "httpx", "uvicorn"},
    "flows": {"fastapi", "starlette", "uvicorn"},
    "services": {"fastapi", "starlette"},
}
SERVER_PACKAGES = {*LAYERS, "deployments", "bench", "alembic"}


def imports_of(package: str, root: Path = REPO) -> dict[str, set[str]]:
    """Top-level names each module of `package` imports (relative imports resolved)."""
    found: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(package if node.level else (node.module or "").split(".")[0])
        found[path.relative_to(root).as_posix()] = names
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_imports_run_down_the_layers(package: str) -> None:
    above = set(LAYERS[: LAYERS.index(package)])
    wrong = {m: sorted(n & above) for m, n in imports_of(package).items() if n & above}
    assert not wrong, f"{package} imports a room above it: {wrong}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN_LIBRARIES))
def test_rooms_keep_to_their_job(package: str) -> None:
    banned = FORBIDDEN_LIBRARIES[package]
    wrong = {m: sorted(n & banned) for m, n in imports_of(package).items() if n & banned}
    assert not wrong, f"{package} imports what another room is for: {wrong}"


def test_the_client_imports_nothing_of_the_server() -> None:
    wrong = {m: sorted(n & SERVER_PACKAGES) for m, n in imports_of("client").items()}
    assert not any(wrong.values()), f"the client reaches into the server: {wrong}"


def test_the_reader_sees_every_form_of_import(tmp_path: Path) -> None:
    """An upward import hidden in a function, a plain `import x.y` and a relative import are
    all seen: the rules above could fail."""
    (tmp_path / "linting").mkdir()
    (tmp_path / "linting/m.py").write_text(
        "import os.path\nfrom . import sibling\ndef f():\n    from api.main import create_app\n"
    )
    assert imports_of("linting", tmp_path) == {"linting/m.py": {"os", "linting", "api"}}
