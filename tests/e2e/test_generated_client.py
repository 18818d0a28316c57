"""The OpenAPI document is one a generator can use: a Python client generated from the running
service's document by openapi-python-client (no warning), imported and used against the running
system with API keys required: authorised through each security scheme, a job submitted (JSON
and multipart), waited for, read back as typed models, and each refusal parsed as a Problem.
The `sqlfluff-service` command authenticates against the same system with SQLFLUFF_SERVICE_KEY."""

import importlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from db import queries
from deployments.processes import wait_for
from services.keys import hash_key, new_key
from tests.support.system import System, running_system

pytestmark = pytest.mark.e2e
PACKAGE = "generated_sqlfluff_service_client"
UNKNOWN_JOB = "job-00000000-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def system(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {"API_KEYS_REQUIRED": "true"}
    with running_system(database_url, tmp_path_factory.mktemp("keyed"), env) as running:
        yield running


@pytest.fixture(scope="module")
def api_key(session_maker: sessionmaker[Session]) -> str:
    """A key made as `sqlfluff-service-admin keys create` makes one."""
    key_id, key = new_key()
    with session_maker.begin() as session:
        queries.keys.add_api_key(session, key_id, hash_key(key), "generated client", False)
    return key


@pytest.fixture(scope="module")
def generated(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client openapi-python-client generates from the running service's document."""
    base = tmp_path_factory.mktemp("generated")
    document = base / "openapi.json"
    response = httpx.get(f"{system.api}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    document.write_bytes(response.content)
    venv_bin = Path(sys.executable).parent
    done = subprocess.run(
        [str(venv_bin / "openapi-python-client"), "generate", "--path", str(document),
         "--output-path", str(base / PACKAGE), "--meta", "none"],
        env={"PATH": f"{venv_bin}:/usr/bin:/bin"},  # its ruff post-hooks
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Warning" not in output and "Skipping" not in output, output
    sys.path.insert(0, str(base))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(base))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def part(package: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


def test_every_error_answer_is_documented_as_a_problem(system: System) -> None:
    doc = httpx.get(f"{system.api}/openapi.json", timeout=30).json()
    untyped = [
        f"{method.upper()} {path} {status}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        for status, answer in op["responses"].items()
        if status.isdigit() and int(status) >= 400
        and answer.get("content", {}).get("application/problem+json", {}).get("schema")
        != {"$ref": "#/components/schemas/Problem"}
    ]  # fmt: skip
    assert not untyped, untyped


def test_the_generated_client_calls_the_running_service(
    system: System, generated: ModuleType, api_key: str
) -> None:
    client_module = part(generated, "client")
    models = part(generated, "models")
    create_job = part(generated, "api.jobs.create_job_jobs_post")
    upload_job = part(generated, "api.jobs.upload_job_jobs_upload_post")
    read_job = part(generated, "api.jobs.read_job_jobs_job_id_get")
    read_violations = part(generated, "api.violations.read_violations_jobs_job_id_violations_get")
    read_summary = part(generated, "api.violations.read_summary_jobs_job_id_summary_get")
    lint_now = part(generated, "api.lint.lint_now_lint_post")
    file_type = part(generated, "types").File

    # BearerKey: `Authorization: Bearer <key>`; ApiKeyHeader: `X-API-Key: <key>`.
    bearer = client_module.AuthenticatedClient(base_url=system.api, token=api_key, timeout=60)
    header = client_module.AuthenticatedClient(
        base_url=system.api, token=api_key, prefix="", auth_header_name="X-API-Key", timeout=60
    )
    nobody = client_module.Client(base_url=system.api, timeout=60)
    stranger = client_module.AuthenticatedClient(
        base_url=system.api, token="sfs_000000000000_nope", timeout=60
    )

    body = models.JobCreate(sql_content="SELECT a  FROM b\n", dialect="ansi")
    refused = create_job.sync_detailed(client=nobody, body=body)
    assert refused.status_code == 401 and isinstance(refused.parsed, models.Problem)
    assert "an API key is required" in refused.parsed.detail
    unknown = create_job.sync(client=stranger, body=body)
    assert isinstance(unknown, models.Problem) and unknown.status == 401
    assert unknown.detail == "unknown API key"

    accepted = create_job.sync(client=bearer, body=body)
    assert isinstance(accepted, models.JobAccepted), accepted
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("models/a.sql", "SELECT a  FROM b\n")
        z.writestr("models/.sqlfluff", "[sqlfluff]\ndialect = ansi\n")
    archive.seek(0)
    upload = models.BodyUploadJobJobsUploadPost(
        file=file_type(payload=archive, file_name="models.zip", mime_type="application/zip"),
        exclude_rules="CP01",
    )
    uploaded = upload_job.sync(client=header, body=upload)
    assert isinstance(uploaded, models.JobAccepted), uploaded

    final = {models.JobStatus.COMPLETED, models.JobStatus.PARTIALLY_COMPLETED,
             models.JobStatus.FAILED}  # fmt: skip

    def ended(job_id: str) -> Any:
        def probe() -> Any:
            job = read_job.sync(job_id, client=bearer)
            assert isinstance(job, models.JobOut), job
            return job if job.job_status in final else None

        return wait_for(probe, 180, lambda: f"job {job_id} not final\n{system.logs()}", 0.3)

    for job_id in (accepted.job_id, uploaded.job_id):
        job = ended(job_id)
        assert job.job_status == models.JobStatus.COMPLETED, job
        (task,) = job.sub_tasks.items
        assert task.status == models.TaskStatus.SUCCESS

        page = read_violations.sync(job_id, client=header, min_severity=models.Severity.INFO)
        assert isinstance(page, models.ViolationPage), page
        assert page.total == len(page.items) > 0
        assert all(isinstance(v.severity, models.Severity) for v in page.items)
        codes = {v.rule_code for v in page.items}
        assert "LT01" in codes  # the double space
        summary = read_summary.sync(job_id, client=bearer)
        assert isinstance(summary, models.JobSummaryOut), summary
        assert summary.violations_total == page.total
    assert "CP01" not in {v.rule_code for v in read_violations.sync(
        uploaded.job_id, client=bearer).items}  # fmt: skip

    invalid = read_violations.sync(accepted.job_id, client=bearer, page=0)
    assert isinstance(invalid, models.Problem) and invalid.status == 422, invalid
    assert invalid.errors and all(isinstance(e, models.FieldError) for e in invalid.errors)
    missing = read_job.sync_detailed(UNKNOWN_JOB, client=bearer)
    assert missing.status_code == 404 and isinstance(missing.parsed, models.Problem)
    assert missing.parsed.status == 404 and missing.parsed.detail
    both = models.JobCreate(sql_content="select 1\n", zip_file_path="x.zip")
    bad = create_job.sync(client=bearer, body=both)
    assert isinstance(bad, models.Problem) and bad.status == 400, bad

    now = models.LintNow(sql="select a  from b\n", dialect="ansi")
    result = lint_now.sync(client=bearer, body=now)
    assert isinstance(result, models.LintResult), result
    assert result.violation_count == len(result.violations) > 0
    assert "LT01" in {v.code for v in result.violations}  # the double space
    assert all(isinstance(v.severity, models.Severity) for v in result.violations)
    wrong = lint_now.sync(client=bearer, body=models.LintNow(sql="select 1\n", dialect="nosuch"))
    assert isinstance(wrong, models.Problem) and wrong.status == 400, wrong
    assert "nosuch" in wrong.detail


def test_the_command_sends_the_key_from_the_environment(
    system: System, api_key: str, tmp_path: Path
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models/a.sql").write_text("select a  from b\n")
    command = [str(Path(sys.executable).parent / "sqlfluff-service"), "submit", "models",
               "--dialect", "ansi"]  # fmt: skip
    env = {**os.environ, "SQLFLUFF_SERVICE_URL": system.api}
    env.pop("SQLFLUFF_SERVICE_KEY", None)

    def lint(extra: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(command, cwd=tmp_path, env={**env, **extra}, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    refused = lint({})
    assert refused.returncode == 2 and "an API key is required" in refused.stderr, refused.stderr
    done = lint({"SQLFLUFF_SERVICE_KEY": api_key})
    assert done.returncode == 1, done.stderr  # the double space: a violation, as sqlfluff lint
    assert "== [models/a.sql] FAIL" in done.stdout and "LT01" in done.stdout
