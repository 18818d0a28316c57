"""The HTTP calls the client makes: submit, wait for the job, read its records, violations and
reports. Errors come as Problem Details (`detail` the human sentence)."""

import sys
import time
from collections.abc import Iterator
from typing import Any, Callable, Optional

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

FINAL = {"COMPLETED", "PARTIALLY_COMPLETED", "FAILED"}
SEVERITIES = ("INFO", "MINOR", "MAJOR", "CRITICAL", "BLOCKER")
PAGE = 1000


class ServiceError(Exception):
    """The service refused a request or could not be read (exit code 2)."""


def detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return response.text[:500]


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise ServiceError(f"{what} ({response.status_code}): {detail(response)}")
    return response


def submit(http: httpx.Client, name: str, data: bytes, form: dict[str, Optional[str]]) -> str:
    response = http.post(
        "/jobs/upload",
        data={k: v for k, v in form.items() if v is not None},
        files={"file": (name, data)},
    )
    return str(_ok(response, "rejected").json()["job_id"])


def wait(
    http: httpx.Client, job_id: str, timeout: float, err: Console, interval: float = 0.5
) -> dict[str, Any]:
    """Poll the job's summary until it ends: a progress bar on a terminal, plain lines (one per
    change) otherwise, so CI logs stay readable."""
    deadline = time.monotonic() + timeout

    def poll(show: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        while True:
            summary: dict[str, Any] = _ok(
                http.get(f"/jobs/{job_id}/summary"), "cannot read the job"
            ).json()
            show(summary)
            if summary["job_status"] in FINAL:
                return summary
            if time.monotonic() > deadline:
                raise ServiceError(f"job {job_id} not finished after {timeout:g} s")
            time.sleep(interval)

    if err.is_terminal:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err) as progress:
            bar = progress.add_task("linting", total=None)

            def show_bar(summary: dict[str, Any]) -> None:
                done, total = summary["progress"]["done"], summary["progress"]["total"]
                progress.update(bar, completed=done, total=total or None)
                progress.update(bar, description=summary["job_status"].lower())

            return poll(show_bar)
    last: list[str] = []

    def show_line(summary: dict[str, Any]) -> None:
        p = summary["progress"]
        line = f"{job_id}: {summary['job_status']} {p['done']}/{p['total']} files"
        if [line] != last:
            last[:] = [line]
            print(line, file=sys.stderr, flush=True)

    return poll(show_line)


def tasks(http: httpx.Client, job_id: str) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        body = _ok(
            http.get(f"/jobs/{job_id}", params={"page": page, "size": PAGE}), "cannot read the job"
        ).json()
        yield from body["sub_tasks"]["items"]
        if page * PAGE >= body["sub_tasks"]["total"]:
            return
        page += 1


def records(http: httpx.Client, job_id: str) -> tuple:
    """The `sqlfluff lint --format json` record of each linted file, and the files that could
    not be linted as (file name, reason)."""
    found: list[dict[str, Any]] = []
    failed: list[tuple] = []
    for task in tasks(http, job_id):
        if task["status"] == "SUCCESS":
            result = _ok(http.get(f"/tasks/{task['task_id']}/result"), "cannot read a result")
            for record in result.json():
                record["filepath"] = task["file_name"]
                found.append(record)
        else:
            failed.append((task["file_name"], task.get("error_message") or task["status"]))
    return found, failed


def violations(
    http: httpx.Client, job_id: str, min_severity: Optional[str] = None, new_only: bool = False
) -> Iterator[dict[str, Any]]:
    page = 1
    params: dict[str, Any] = {"size": PAGE}
    if min_severity:
        params["min_severity"] = min_severity
    if new_only:
        params["new_only"] = "true"
    while True:
        body = _ok(
            http.get(f"/jobs/{job_id}/violations", params={**params, "page": page}),
            "cannot read the violations",
        ).json()
        yield from body["items"]
        if page * PAGE >= body["total"]:
            return
        page += 1


def report(http: httpx.Client, job_id: str, fmt: str, params: dict[str, Any]) -> bytes:
    response = http.get(f"/jobs/{job_id}/report", params={"format": fmt, **params})
    return _ok(response, "cannot read the report").content


def patch(http: httpx.Client, job_id: str) -> bytes:
    """One git diff of every file the service fixed (a `--fix` job), for `git apply`."""
    return _ok(http.get(f"/jobs/{job_id}/patch"), "cannot read the patch").content
