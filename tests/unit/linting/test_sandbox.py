"""Lint processes started through `linting.sandbox` hold no secrets, reach no network, cannot
take the host's memory, and end with the service process; all checked on real processes."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.processes import wait_for
from linting.sandbox import (
    METHODS,
    SandboxPolicy,
    child_command,
    child_environment,
    isolation_method,
    isolation_problem,
    network_isolation_available,
    remove_orphaned_homes,
)

PROBE = "sandbox_probe"  # a module that runs the Python code it reads on stdin
ISOLATED = SandboxPolicy(max_memory_mb=2048, network="auto")
UNISOLATED = SandboxPolicy(max_memory_mb=2048, network="off")
SECRETS = {
    "DATABASE_URL": "mysql+pymysql://root:hunter2@db/sqlfluff",
    "CALLBACK_SECRET": "s3cret",
    "PREFECT_API_KEY": "pnu_secret",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "GITHUB_TOKEN": "ghp_secret",
    "MYSQL_PWD": "hunter2",
}


@pytest.fixture(autouse=True)
def probe_module(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe module, importable by children through PYTHONPATH (an allow-listed variable)."""
    folder = tmp_path_factory.getbasetemp() / "sandbox_probe"
    folder.mkdir(exist_ok=True)
    (folder / f"{PROBE}.py").write_text("import sys\nexec(sys.stdin.read())\n")
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    monkeypatch.setenv("PYTHONPATH", path)


def run_sandboxed(
    code: str, policy: SandboxPolicy, method: str | None = None
) -> subprocess.CompletedProcess[str]:
    argv, env = child_command(PROBE, policy, method)
    return subprocess.run(
        argv, env=env, input=textwrap.dedent(code), capture_output=True, text=True, timeout=60
    )


def require(method: str) -> None:
    # Fails rather than skips: on the machines this service is built for (root, util-linux,
    # bubblewrap from `make install`) every method works, and a skip would hide a sandbox that
    # silently stopped isolating.
    problem = isolation_problem(method)
    assert problem is None, f"{method} does not work here: {problem}"


def test_environment_is_an_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    env = child_environment()
    assert not set(SECRETS) & set(env)
    assert env["LC_ALL"] == "C.UTF-8" and env["LOG_LEVEL"] == "DEBUG"
    assert env["HOME"] != os.environ.get("HOME") and Path(env["HOME"]).is_dir()
    assert child_environment({"PATH": "/bin", "SECRET": "x"}) == {
        "PATH": "/bin",
        "HOME": env["HOME"],
    }


def test_a_scratch_home_left_by_a_killed_process_is_removed_by_the_next(tmp_path: Path) -> None:
    """Prefect ends every warm flow run with SIGTERM, which skips `atexit`: the home it made for
    its lint children stayed in /tmp, one per job. The next process to make one removes it."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    make_home = (
        "import os, sys, time\n"
        "from linting.sandbox import child_environment\n"
        "print(child_environment()['HOME'], flush=True)\n"
        "time.sleep(60)\n"
    )
    killed = subprocess.Popen(
        [sys.executable, "-c", make_home], env=env, stdout=subprocess.PIPE, text=True
    )
    assert killed.stdout is not None
    orphan = Path(killed.stdout.readline().strip())
    killed.send_signal(signal.SIGTERM)
    killed.wait(timeout=30)
    assert orphan.is_dir() and orphan.parent == tmp_path  # atexit did not run
    living = tmp_path / f"lint-home-{os.getpid()}-abc"  # this process is alive
    unrelated = [tmp_path / "lint-home-a1b2c3", tmp_path / "lint-home-notapid-x"]
    for folder in (living, *unrelated):
        folder.mkdir()

    assert remove_orphaned_homes(str(tmp_path)) == 1
    assert not orphan.exists()
    assert living.is_dir() and all(p.is_dir() for p in unrelated)

    # A process that ends normally removes its own home; one forked from it does not.
    fork_then_exit = make_home.replace(
        "time.sleep(60)\n",
        "child = os.fork()\n"
        "if child == 0:\n"
        "    sys.exit()\n"
        "os.waitpid(child, 0)\n"
        "print(os.path.isdir(child_environment()['HOME']))\n",
    )
    done = subprocess.run(
        [sys.executable, "-c", fork_then_exit], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    home, kept_after_fork_exit = done.stdout.split()
    assert kept_after_fork_exit == "True"
    assert not Path(home).exists()


def test_child_has_no_secrets_and_still_lints(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    done = run_sandboxed(
        """
        import json, os, sqlfluff
        codes = [v["code"] for v in sqlfluff.lint("SELECT 1 from t", dialect="ansi")]
        print(json.dumps({"env": dict(os.environ), "codes": codes}))
        """,
        ISOLATED,
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    leaked = {k for k, v in reply["env"].items() if k in SECRETS or v in SECRETS.values()}
    assert not leaked
    assert "CP01" in reply["codes"]  # SQLFluff imported, built the dialect and linted


CONNECT = """
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
    print("connected")
except OSError as exc:
    print("failed", exc.errno)
"""


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.mark.parametrize("method", list(METHODS))
def test_isolation_is_what_stops_a_connection(method: str, listening_port: int) -> None:
    require(method)
    code = CONNECT.format(port=listening_port)
    assert run_sandboxed(code, UNISOLATED).stdout.split() == ["connected"]
    isolated = run_sandboxed(code, ISOLATED, method)
    assert isolated.returncode == 0, isolated.stderr
    outcome, code_ = isolated.stdout.split()
    assert outcome == "failed" and int(code_) in (errno.ENETUNREACH, errno.ECONNREFUSED)


def test_required_isolation_is_used_when_available() -> None:
    method = network_isolation_available()
    assert method is not None, "no network isolation works on this host"
    policy = SandboxPolicy(max_memory_mb=2048, network="required")
    assert isolation_method(policy) == method
    assert child_command(PROBE, policy)[0][0].endswith(METHODS[method][0])


def test_without_any_method_auto_warns_once_and_required_refuses(tmp_path: Path) -> None:
    # A fresh interpreter, so the once-per-process probe really runs; no wrapper on its PATH.
    code = """
        import logging, sys
        logging.basicConfig(format="%(levelname)s %(message)s")
        from linting.sandbox import SandboxPolicy, SandboxUnavailable, child_command
        for _ in range(2):
            argv, _env = child_command("m", SandboxPolicy(2048, "auto"))
            assert argv[0] == sys.executable, argv
        try:
            child_command("m", SandboxPolicy(2048, "required"))
        except SandboxUnavailable as exc:
            print("refused:", exc)
    """
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("WITHOUT network isolation") == 1, done.stderr
    assert done.stdout.startswith("refused: LINT_NETWORK_ISOLATION=required")
    assert "unshare not found on PATH" in done.stdout and "bwrap not found" in done.stdout


ALLOCATE = """
import resource
print(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)
try:
    block = b"x" * (300 * 2**20)
    print("allocated")
except MemoryError:
    print("MemoryError")
"""


def test_memory_limit_turns_a_large_allocation_into_memory_error() -> None:
    limited = run_sandboxed(ALLOCATE, SandboxPolicy(max_memory_mb=256, network="off"))
    assert limited.stdout.split() == ["256", "MemoryError"], limited.stderr
    roomy = run_sandboxed(ALLOCATE, SandboxPolicy(max_memory_mb=2048, network="off"))
    assert roomy.stdout.split() == ["2048", "allocated"], roomy.stderr


def test_jinja_memory_bomb_ends_in_memory_error_not_host_oom() -> None:
    done = run_sandboxed(
        r"""
        from sqlfluff.core import Linter
        sql = "{% set a = 'x' * 1500000000 %}select '{{ a ~ a }}'\n"
        try:
            result = Linter(dialect="ansi").lint_string(sql)
            print("linted", sorted({v.rule_code() for v in result.violations}))
        except MemoryError:
            print("MemoryError")
        """,
        SandboxPolicy(max_memory_mb=512, network="auto"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(("MemoryError", "linted ['TMP")), done.stdout


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie no one reaps is dead too


# A lint that never ends: busy, not reading stdin.
SPIN = "import os\nprint(os.getpid(), flush=True)\nwhile True: pass\n"

# The service process stand-in: starts a sandboxed child running SPIN, prints that child's pid,
# then waits to be killed.
INTERMEDIATE = """
import subprocess, sys, threading
from linting.sandbox import SandboxPolicy, child_command
method = sys.argv[1] or None
argv, env = child_command("sandbox_probe", SandboxPolicy(2048, "off"), method)
child = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdin.write(sys.argv[2].encode())
child.stdin.close()
print(child.stdout.readline().decode().strip(), flush=True)
threading.Event().wait()
"""


@pytest.mark.parametrize("method", ["", *METHODS])
def test_busy_child_dies_when_its_parent_is_killed(method: str, tmp_path: Path) -> None:
    if method:
        require(method)
    parent = subprocess.Popen(
        [sys.executable, "-c", INTERMEDIATE, method, SPIN],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},  # its killed atexit leaves a scratch HOME
    )
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    try:
        assert not _gone(pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        wait_for(lambda: _gone(pid), 10, f"child {pid} outlived its parent", 0.05)
    finally:
        parent.kill()
        parent.wait()
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("method", list(METHODS))
def test_killing_the_started_process_ends_a_busy_lint(method: str) -> None:
    require(method)
    # LintChild kills the process it started on a time limit; with bwrap that is the wrapper.
    argv, env = child_command(PROBE, ISOLATED, method)
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(SPIN.encode())
    proc.stdin.close()
    pid = int(proc.stdout.readline())
    try:
        proc.kill()
        proc.wait(timeout=10)
        wait_for(lambda: _gone(pid), 10, f"{pid} kept linting after its wrapper was killed", 0.05)
    finally:
        if not _gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_child_outlives_the_thread_that_started_it() -> None:
    # The warm-up child of a Dask worker is started by a thread that then ends
    # (flows/worker_preload.py): a thread-bound death signal would kill it there.
    argv, env = child_command(PROBE, ISOLATED)
    started: list[subprocess.Popen[str]] = []

    def start() -> None:
        started.append(
            subprocess.Popen(
                argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        )

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()
    [child] = started
    out, _ = child.communicate("print('alive')\n", timeout=60)
    assert (child.returncode, out) == (0, "alive\n")
