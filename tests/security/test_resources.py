"""Starving the service, and what a lint process could do if a check were missed: a Jinja memory
bomb through /lint, a job and an archive (a reason, bounded growth of the API, the system still
answering); the lint processes' sandbox as the running system has it (another network
namespace, no secrets in the environment, the address-space limit); request bodies cut while
they arrive; page numbers and sizes beyond any listing."""

import os
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.attacks import CALLBACK_SECRET, tasks_by_name, upload
from tests.support.factories import zip_bytes
from tests.support.system import System

pytestmark = pytest.mark.e2e

BOMB = "{% set a = 'x' * 1500000000 %}select '{{ a ~ a }}'\n"
# What a lint that hit a limit may say: out of memory, over the templated size, time limit.
LIMIT_REASONS = ("LINT_MAX_MEMORY_MB", "LINT_MAX_TEMPLATED_BYTES", "LINT_TIMEOUT_SECONDS")
MIB = 1024**2


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def lint_ok(system: System) -> None:
    response = httpx.post(f"{system.api}/lint", json={"sql": "select a from t\n"}, timeout=60)
    assert response.status_code == 200, response.text


def test_memory_bomb_via_lint_is_refused_and_the_api_stays_small(system: System) -> None:
    [api] = system.api_workers()
    lint_ok(system)
    rss, peak = status_kib(api, "VmRSS"), status_kib(api, "VmHWM")
    response = httpx.post(f"{system.api}/lint", json={"sql": BOMB}, timeout=90)
    assert response.status_code in (422, 504), response.text
    detail = response.json()["detail"]
    assert any(r in detail for r in (*LIMIT_REASONS, "INLINE_TIMEOUT_SECONDS")), detail
    # The bomb asked for 3 GB: the API itself grew by at most a few tens of MB, at any moment.
    assert status_kib(api, "VmRSS") - rss < 100 * 1024
    assert status_kib(api, "VmHWM") - peak < 100 * 1024
    lint_ok(system)


@pytest.mark.parametrize("entry", ["job", "zip_file_path"])
def test_memory_bomb_in_a_job_is_that_files_failure(system: System, entry: str) -> None:
    workers = sorted(system.descendants("dask-worker", b"spawn_main"))
    if entry == "job":
        job = system.wait_final(system.submit({"sql_content": BOMB}), 120)
        bomb = job["sub_tasks"]["items"][0]
        assert job["job_status"] == "FAILED"  # its only file
    else:
        upload_response = upload(
            system.api, "bomb.zip", zip_bytes({"bomb.sql": BOMB.encode(), "ok.sql": b"select 1\n"})
        )
        assert upload_response.status_code == 202, upload_response.text
        job = system.wait_final(upload_response.json()["job_id"], 120)
        tasks = tasks_by_name(system.api, job["job_id"])
        assert job["job_status"] == "PARTIALLY_COMPLETED"
        assert tasks["ok.sql"]["status"] == "SUCCESS"
        bomb = tasks["bomb.sql"]
    assert bomb["status"] == "FAILURE"
    assert any(r in bomb["error_message"] for r in LIMIT_REASONS), bomb
    # No worker died of it: the same worker processes lint the next job.
    assert sorted(system.descendants("dask-worker", b"spawn_main")) == workers
    after = system.wait_final(system.submit({"sql_content": "select a from t\n"}), 120)
    assert after["job_status"] == "COMPLETED"


def lint_children(system: System, role: str) -> list[int]:
    """The lint processes under a role (not a bwrap/unshare wrapper that shares their argv)."""
    found = []
    for pid in system.descendants(role, b"linting.child_process"):
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        if os.path.basename(argv0) not in (b"bwrap", b"unshare"):
            found.append(pid)
    return found


@pytest.mark.parametrize("role", ["dask-worker", "api"])
def test_lint_processes_have_no_network_no_secrets_and_a_memory_cap(
    system: System, role: str
) -> None:
    # Something linted on each side first, so the workers' children are up.
    assert system.wait_final(system.submit({"sql_content": "select 1\n"}), 120)
    lint_ok(system)
    children = lint_children(system, role)
    assert children, f"no lint process under {role}"
    api_ns = os.readlink(f"/proc/{system.pids()['api']}/ns/net")
    api_environ = Path(f"/proc/{system.pids()['api']}/environ").read_bytes()
    assert b"DATABASE_URL=" in api_environ and CALLBACK_SECRET.encode() in api_environ
    for pid in children:
        assert os.readlink(f"/proc/{pid}/ns/net") != api_ns, pid
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        for secret in (b"DATABASE_URL", CALLBACK_SECRET.encode(), b"PREFECT_API_URL"):
            assert secret not in environ, (pid, secret)
        limits = Path(f"/proc/{pid}/limits").read_text()
        [line] = [x for x in limits.splitlines() if x.startswith("Max address space")]
        assert line.split()[3] == str(1024 * MIB), line


def send_chunked(api: str, path: str, content_type: str, body: Iterator[bytes]) -> tuple[int, int]:
    """POST `body` chunked (no Content-Length), stopping when the answer arrives; the status
    and how many body bytes the server took before answering."""
    url = httpx.URL(api)
    with socket.create_connection((url.host, url.port), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        sent = 0
        for part in body:
            if select.select([sock], [], [], 0)[0]:
                break  # answered already
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(part)
        else:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer:
            piece = sock.recv(4096)
            if not piece:
                break
            answer += piece
    return int(answer.split(b" ", 2)[1]), sent


def json_body(field: str, total: int) -> Iterator[bytes]:
    yield f'{{"{field}": "'.encode()
    for _ in range(total // MIB):
        yield b"select 1; " * (MIB // 10)
    yield b'"}'


def multipart_body(total: int) -> Iterator[bytes]:
    yield (
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="big.sql"\r\n'
        b"Content-Type: application/sql\r\n\r\n"
    )
    for _ in range(total // MIB):
        yield b"select 1; " * (MIB // 10)
    yield b"\r\n--XX--\r\n"


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/jobs", "application/json", json_body("sql_content", 256 * MIB)),
        ("/lint", "application/json", json_body("sql", 256 * MIB)),
        ("/jobs/upload", "multipart/form-data; boundary=XX", multipart_body(256 * MIB)),
    ],
    ids=["jobs", "lint", "upload"],
)
def test_chunked_body_is_cut_while_it_arrives(
    system: System, path: str, content_type: str, body: Iterator[bytes]
) -> None:
    [api] = system.api_workers()
    peak = status_kib(api, "VmHWM")
    status, sent = send_chunked(system.api, path, content_type, body)
    assert status == 413
    # UPLOAD_MAX_BYTES is 4 MB: the answer came long before the 256 MB were sent.
    assert sent < 64 * MIB, sent
    assert status_kib(api, "VmHWM") - peak < 100 * 1024
    lint_ok(system)


@pytest.fixture(scope="module")
def some_job(system: System) -> str:
    return system.submit({"sql_content": "select 1\n"})


@pytest.mark.parametrize(
    "params",
    [{"page": 10**20}, {"page": 2**63}, {"size": 10**20}, {"page": 0}, {"size": 0}],
    ids=["page 1e20", "page 2^63", "size 1e20", "page 0", "size 0"],
)
@pytest.mark.parametrize("route", ["/jobs", "/jobs/{id}", "/jobs/{id}/violations"])
def test_page_and_size_beyond_any_listing_are_422(
    system: System, some_job: str, route: str, params: dict[str, int]
) -> None:
    response = httpx.get(f"{system.api}{route.format(id=some_job)}", params=params, timeout=30)
    assert response.status_code == 422, response.text
