"""The client package installed ALONE in a fresh venv on the newest Python here, run against the
running system on a repository-like folder (`.git/`, `.sqlfluffignore`, nested configs, build
output, a secret), each output format checked by its own reader; the human output equals
`sqlfluff lint`'s lines for the same files. The CI examples of docs/ci.md and the pre-commit hook
run their exact commands with bash against the same system."""

import csv
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from deployments.processes import free_port
from tests.support.ci_examples import (
    doc_example,
    github_expressions,
    hook_definition,
)
from tests.support.ci_formats import (
    GITHUB_COMMAND,
    GITLAB_CODE_QUALITY_SCHEMA,
    check_github_sarif_limits,
)
from tests.support.corpus import CORPUS
from tests.support.databases import REPO_ROOT
from tests.support.sarif import sarif_schema
from tests.support.system import System

pytestmark = pytest.mark.e2e
# What `pip install sqlfluff-service-client` may bring: httpx, rich and their own dependencies.
ALLOWED = {
    "sqlfluff-service-client", "httpx", "httpcore", "h11", "anyio", "idna", "certifi", "sniffio",
    "rich", "markdown-it-py", "mdurl", "pygments", "typing-extensions", "exceptiongroup", "pip",
    "setuptools",
}  # fmt: skip


def newest_python() -> Path:
    found = Path.home().glob(".pyenv/versions/3.*/bin/python3")
    return max(found, key=lambda p: tuple(int(x) for x in p.parents[1].name.split(".")))


@pytest.fixture(scope="module")
def client_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the client, installed from a copy of `client/` (no build leftovers
    in the repository)."""
    base = tmp_path_factory.mktemp("client")
    source = base / "source"
    shutil.copytree(REPO_ROOT / "client", source, ignore=shutil.ignore_patterns("*.egg-info"))
    venv = base / "venv"
    subprocess.run([str(newest_python()), "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(source)], check=True, timeout=300)
    return venv / "bin"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A repository: the SQL under `warehouse/`, which is what CI submits."""
    root = tmp_path_factory.mktemp("repo")
    (root / ".git/hooks").mkdir(parents=True)
    (root / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (root / ".git/hooks/hook.sql").write_text("select 1\n")
    (root / ".env").write_text("DATABASE_PASSWORD=hunter2\n")
    wh = root / "warehouse"
    (wh / "models/staging").mkdir(parents=True)
    (wh / "scratch").mkdir()
    (wh / "target/compiled").mkdir(parents=True)
    (wh / ".sqlfluff").write_text("[sqlfluff]\ndialect = ansi\n")
    (wh / ".sqlfluffignore").write_text("scratch/\n")
    (wh / ".env").write_text("API_TOKEN=secret\n")
    for name in ("q01.sql", "q03.sql"):
        shutil.copyfile(CORPUS / "tpch" / name, wh / "models" / name)
    shutil.copyfile(CORPUS / "tpch/q06.sql", wh / "models/staging/q06.sql")
    shutil.copyfile(CORPUS / "tpch/q02.sql", wh / "models/staging/legacy_q02.sql")
    (wh / "models/staging/.sqlfluff").write_text("[sqlfluff]\nexclude_rules = LT01,CP02\n")
    (wh / "models/staging/.sqlfluffignore").write_text("legacy_*.sql\n")
    (wh / "models/clean.sql").write_text("select a\nfrom b\n")
    (wh / "scratch/wip.sql").write_text("selec 1 frm\n")
    (wh / "target/compiled/q01.sql").write_text("select 1\n")
    yield root


def run(
    client_bin: Path, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess:
    # The user's environment, minus anything that could let the server's packages leak in.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return subprocess.run(
        [str(client_bin / "sqlfluff-service"), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def sqlfluff_lint(
    repo: Path, *args: str, paths: tuple[str, ...] = ("warehouse",)
) -> subprocess.CompletedProcess:
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    return subprocess.run(
        [str(sqlfluff), "lint", *paths, "--nocolor", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
    )


def finding_lines(output: str, skip: tuple[str, ...] = ()) -> list[str]:
    """The file headers and violation lines of `sqlfluff lint` output, without files under
    `skip` (folders SQLFluff walks and the client never sends)."""
    lines, keep = [], True
    for line in output.splitlines():
        if line.startswith("== ["):
            keep = not line[4:].startswith(skip)
        if keep and (line.startswith(("== [", "L:")) or line.startswith(" " * 23 + "| ")):
            lines.append(line)
    return lines


def test_the_client_installs_alone(client_bin: Path) -> None:
    listed = subprocess.run(
        [str(client_bin / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert names <= ALLOWED, names - ALLOWED
    server = subprocess.run(
        [str(client_bin / "python"), "-c", "import api"], capture_output=True, cwd="/"
    )
    assert server.returncode != 0  # none of the server's modules came along
    version = subprocess.run([str(client_bin / "sqlfluff-service"), "--version"], text=True,
                             capture_output=True)  # fmt: skip
    assert re.fullmatch(r"sqlfluff-service-client \d+\.\d+\.\d+\n", version.stdout)


def test_every_format_against_the_running_service(
    system: System, client_bin: Path, repo: Path, tmp_path: Path
) -> None:
    env = {"SQLFLUFF_SERVICE_URL": system.api}
    human = run(client_bin, repo, env, "submit", "warehouse")
    assert human.returncode == 1, human.stderr  # violations found, as `sqlfluff lint`
    job_id = re.search(r"job (job-[0-9a-f-]+) accepted", human.stderr).group(1)
    assert f"{job_id}: COMPLETED" in human.stderr  # plain progress lines off a terminal

    job = httpx.get(f"{system.api}/jobs/{job_id}", params={"size": 100}).json()
    linted = sorted(t["file_name"] for t in job["sub_tasks"]["items"])
    assert linted == ["models/clean.sql", "models/q01.sql", "models/q03.sql",
                      "models/staging/q06.sql"]  # fmt: skip
    oracle = sqlfluff_lint(repo)
    assert oracle.returncode == 1, oracle.stderr
    expected = finding_lines(oracle.stdout, skip=("warehouse/target/",))
    assert expected and finding_lines(human.stdout) == expected

    def output(fmt: str, *extra: str) -> str:
        target = tmp_path / f"out.{fmt}"
        done = run(client_bin, repo, env, "submit", "warehouse", "--job", job_id,
                   "--format", fmt, "--write-output", str(target), *extra)  # fmt: skip
        assert done.returncode == 1, done.stderr
        return target.read_text()

    records = json.loads(output("json"))
    oracle_json = json.loads(sqlfluff_lint(repo, "--format", "json").stdout)
    assert {r["filepath"]: [(v["code"], v["start_line_no"], v["start_line_pos"])
                            for v in r["violations"]] for r in records} == {
        r["filepath"]: [(v["code"], v["start_line_no"], v["start_line_pos"])
                        for v in r["violations"]]
        for r in oracle_json if not r["filepath"].startswith("warehouse/target/")
    }  # fmt: skip

    sarif = json.loads(output("sarif"))
    jsonschema.validate(sarif, sarif_schema())
    check_github_sarif_limits(sarif)
    results = sarif["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris and all(u.startswith("warehouse/models/") for u in uris), uris
    assert all(r["partialFingerprints"] for r in results)

    gitlab = json.loads(output("gitlab"))
    jsonschema.validate(gitlab, GITLAB_CODE_QUALITY_SCHEMA)
    assert len({i["fingerprint"] for i in gitlab}) == len(gitlab) == len(results)
    assert all(i["location"]["path"].startswith("warehouse/models/") for i in gitlab)

    annotations = output("github-annotation-native", "--annotation-level", "error")
    lines = annotations.splitlines()
    assert lines and all(GITHUB_COMMAND.match(line) for line in lines), annotations
    assert sum(line.startswith("::error ") for line in lines) == len(results)

    suite = ET.fromstring(output("junit"))
    assert suite.iter("testcase") and any(True for _ in suite.iter("failure"))
    rows = list(csv.DictReader(io.StringIO(output("csv"))))
    assert len(rows) == len(results)
    assert "<html" in output("html").lower()


def test_exit_codes_are_sqlfluff_lints(
    system: System, client_bin: Path, repo: Path, tmp_path: Path
) -> None:
    env = {"SQLFLUFF_SERVICE_URL": system.api}
    clean = run(client_bin, repo, env, "submit", "warehouse/models/clean.sql")
    assert clean.returncode == 0, clean.stderr
    nofail = run(client_bin, repo, env, "submit", "warehouse", "--nofail")
    assert nofail.returncode == 0, nofail.stderr
    refused = run(client_bin, repo, env, "submit", "warehouse", "--dialect", "nosuch")
    assert refused.returncode == 2 and "unknown dialect" in refused.stderr
    away = run(client_bin, repo, {"SQLFLUFF_SERVICE_URL": f"http://127.0.0.1:{free_port()}"},
               "submit", "warehouse")  # fmt: skip
    assert away.returncode == 2 and "did not answer" in away.stderr
    queued = run(client_bin, repo, env, "submit", "warehouse", "--no-wait")
    assert queued.returncode == 0 and queued.stdout.startswith("job-")


def uploaded_names(system: System, job_id: str) -> set[str]:
    """The entries of the archive the client sent, as the service stored it."""
    (upload,) = (system.shared_root / "jobs" / job_id / "upload").iterdir()
    with zipfile.ZipFile(upload) as archive:
        return set(archive.namelist())


def test_every_file_sqlfluff_would_lint_is_sent_and_nothing_else(
    system: System, client_bin: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    tree = {
        ".git/HEAD": "ref: refs/heads/main\n",
        ".git/x.sql": "select 1\n",
        # The repository's root config names the extensions (read with tomllib, Python 3.11+).
        "pyproject.toml": '[tool.sqlfluff.core]\nsql_file_exts = ".sql,.sql.j2,.dml,.ddl,.bq"\n',
        "warehouse/.sqlfluff": "[sqlfluff]\ndialect = ansi\n",
        "warehouse/.sqlfluffignore": "old/\n",
        "warehouse/.env": "API_TOKEN=secret\n",
        "warehouse/a.sql": "select a from b\n",
        "warehouse/b.sql.j2": "select {{ 1 }} from b\n",
        "warehouse/c.DML": "insert into t values (1)\n",
        "warehouse/sub/d.ddl": "create table t (a int)\n",
        "warehouse/sub/e.bq": "select 1\n",
        "warehouse/sub/f.pkb": "select 1\n",
        "warehouse/notes.txt": "select 1\n",
        "warehouse/old/o.dml": "select 1\n",
        "warehouse/target/t.sql": "select 1\n",
    }
    for rel, text in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    env = {"SQLFLUFF_SERVICE_URL": system.api}
    done = run(client_bin, root, env, "submit", "warehouse", "--nofail")
    assert done.returncode == 0, done.stderr
    assert "sending 5 SQL file(s) from warehouse\n" in done.stderr  # old/ is not even walked
    job_id = re.search(r"job (job-[0-9a-f-]+) accepted", done.stderr).group(1)
    assert uploaded_names(system, job_id) == {
        ".sqlfluff", ".sqlfluffignore", "a.sql", "b.sql.j2", "c.DML", "sub/d.ddl", "sub/e.bq"
    }  # fmt: skip


def shell(
    command: str, cwd: Path, client_bin: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    """`command` as a CI runner runs a step: bash, stopping at the first failure, with only the
    client's venv and the system's folders on PATH."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
        cwd=cwd,
        env={"PATH": f"{client_bin}:/usr/bin:/bin", "HOME": str(cwd), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def checkout(repo: Path, tmp_path: Path) -> Path:
    """A fresh copy of the repository, as a CI job checks it out, for the files it writes."""
    shutil.copytree(repo, tmp_path / "checkout", symlinks=True)
    return tmp_path / "checkout"


def is_client_install(command: str) -> bool:
    """A `pip install` of the client's folder of this repository (done here by `client_bin`)."""
    return command.startswith("pip install ") and command.rstrip('"').endswith(
        "sqlfluff-service.git#subdirectory=client"
    )


def test_the_github_actions_example_runs(system: System, client_bin: Path, checkout: Path) -> None:
    workflow = doc_example("# .github/workflows/sql-lint.yml")
    context = {"vars.SQLFLUFF_SERVICE_URL": system.api, "secrets.SQLFLUFF_SERVICE_KEY": ""}
    outcomes: dict[str, subprocess.CompletedProcess] = {}
    failed, uploaded = False, []
    for step in workflow["jobs"]["sqlfluff"]["steps"]:
        if failed and step.get("if") != "always()":
            continue  # GitHub skips it after a failed step
        if "uses" in step:
            if step["uses"].startswith("github/codeql-action/upload-sarif@"):
                uploaded.append(checkout / step["with"]["sarif_file"])
            continue  # checkout and setup-python: the copied repository and client_bin
        if is_client_install(step["run"]):
            continue
        env = {k: github_expressions(str(v), context) for k, v in step.get("env", {}).items()}
        done = shell(step["run"], checkout, client_bin, env)
        outcomes[step["name"]] = done
        failed = failed or done.returncode != 0
    annotate = outcomes["Lint (annotations on the pull request)"]
    assert annotate.returncode == 1, annotate.stderr  # violations fail the check, as intended
    lines = annotate.stdout.splitlines()
    assert lines and all(GITHUB_COMMAND.match(line) for line in lines), annotate.stdout
    assert any("file=warehouse/models/" in line for line in lines)
    sarif_step = outcomes["SARIF for code scanning"]
    assert sarif_step.returncode == 0, sarif_step.stderr
    (sarif_file,) = uploaded
    sarif = json.loads(sarif_file.read_text())
    jsonschema.validate(sarif, sarif_schema())
    check_github_sarif_limits(sarif)
    results = sarif["runs"][0]["results"]
    assert results and all(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("warehouse/")
        for r in results
    )


def test_the_gitlab_ci_example_runs(system: System, client_bin: Path, checkout: Path) -> None:
    job = doc_example("# .gitlab-ci.yml")["sql-lint"]
    # A project's CI/CD variable overrides the file's: here, the running service.
    env = {**{k: str(v) for k, v in job["variables"].items()}, "SQLFLUFF_SERVICE_URL": system.api}
    commands = [c for c in job["script"] if not is_client_install(c)]
    assert len(commands) == len(job["script"]) - 1
    results = [shell(c, checkout, client_bin, env) for c in commands]
    assert [r.returncode for r in results] == [1], [r.stderr for r in results]
    assert job["artifacts"]["when"] == "always"  # the report is kept though the job failed
    report = json.loads((checkout / job["artifacts"]["reports"]["codequality"]).read_text())
    jsonschema.validate(report, GITLAB_CODE_QUALITY_SCHEMA)
    assert report and all(i["location"]["path"].startswith("warehouse/models/") for i in report)


@pytest.mark.timeout(600)  # pre-commit builds the hook's venv (pip: the client, httpx, rich)
def test_pre_commit_runs_the_hook_on_the_staged_files(
    system: System, checkout: Path, tmp_path: Path
) -> None:
    """pre-commit itself, on a real git repository with the SQL staged, runs the hook of
    docs/ci.md (the client from a copy of `client/` instead of the git URL): the hook's output
    is `sqlfluff lint`'s for the same files, ignored files left out."""
    hook = hook_definition("sqlfluff-service")
    config = doc_example("# .pre-commit-config.yaml")
    local = config["repos"][0]["hooks"][0]
    same = ("id", "entry", "language", "files", "require_serial")
    assert {k: local.get(k) for k in same} == {k: hook.get(k) for k in same}
    assert hook.get("pass_filenames", True) and hook["require_serial"]
    (dependency,) = local["additional_dependencies"]
    assert dependency.startswith("sqlfluff-service-client @ git+")
    assert dependency.endswith("#subdirectory=client")
    source = tmp_path / "client"
    shutil.copytree(REPO_ROOT / "client", source, ignore=shutil.ignore_patterns("*.egg-info"))
    local["additional_dependencies"] = [f"sqlfluff-service-client @ {source.as_uri()}"]

    shutil.rmtree(checkout / ".git")
    (checkout / ".gitignore").write_text("target/\n.env\n")
    (checkout / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    # Not the server's venv on PATH: the hook's `sqlfluff-service` is the one pre-commit installed.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SQLFLUFF_SERVICE_URL": system.api,
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit")}  # fmt: skip
    for git in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *git], cwd=checkout, env=env, check=True, timeout=60)
    staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=checkout, env=env,
                            capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    names = [n for n in staged if re.search(hook["files"], n)]
    assert "warehouse/scratch/wip.sql" in names and "warehouse/target/compiled/q01.sql" not in names

    done = subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "run", "--color", "never"],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr  # violations: the commit is refused
    assert "sqlfluff (via sqlfluff-service)" in done.stdout and "Failed" in done.stdout
    oracle = sqlfluff_lint(checkout, paths=tuple(names))
    assert oracle.returncode == 1, oracle.stderr
    expected = finding_lines(oracle.stdout)
    assert expected and finding_lines(done.stdout) == expected, done.stdout
    # What a .sqlfluffignore leaves out is left out for named files too, as by SQLFluff.
    assert "wip.sql" not in done.stdout and "legacy_q02.sql" not in done.stdout


def test_a_terminal_gets_a_progress_bar(
    system: System, client_bin: Path, repo: Path, tmp_path: Path
) -> None:
    """On a terminal the wait shows rich's progress bar instead of the plain lines."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env = {**base, "SQLFLUFF_SERVICE_URL": system.api, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    master, terminal = pty.openpty()
    proc = subprocess.Popen(
        [str(client_bin / "sqlfluff-service"), "submit", "warehouse", "--nofail",
         "--write-output", str(tmp_path / "out.txt")],
        cwd=repo, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the client closed the terminal (it exited)
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
        assert proc.wait(timeout=60) == 0, seen.decode(errors="replace")
    shown = seen.decode(errors="replace")
    assert "━" in shown and "\x1b[" in shown, shown  # the bar, drawn with control sequences
    assert not re.search(r"job-[0-9a-f-]+: COMPLETED \d+/\d+ files", shown), shown
    assert "COMPLETED: " in shown and (tmp_path / "out.txt").read_text().startswith("== [")
