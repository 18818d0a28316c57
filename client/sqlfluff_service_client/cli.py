"""`sqlfluff-service submit [PATH ...]`: send a folder, SQL files or a .zip to a sqlfluff-service,
wait for the job, print the findings (as `sqlfluff lint` does by default) and exit with
`sqlfluff lint`'s codes: 0 no violations, 1 violations found, 2 an error (a refused request, the
service unreachable, the job FAILED or files it could not lint, a timeout).
"""

import argparse
import os
import sys
from pathlib import Path
from typing import Optional

import httpx
from rich.console import Console

from sqlfluff_service_client import __version__, files, formats, service

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_OK, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sqlfluff-service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"sqlfluff-service-client {__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    submit = sub.add_parser(
        "submit",
        aliases=["lint"],
        help="lint a folder, a .sql file or a .zip with the service",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument(
        "paths",
        nargs="*",
        default=[Path(".")],
        type=Path,
        metavar="PATH",
        help="a folder (only the files SQLFluff would lint are sent), SQL files and folders "
        "below the current folder (as pre-commit passes them), or one .zip (default: the "
        "current folder)",
    )
    where = submit.add_argument_group("the service")
    where.add_argument(
        "--url",
        "--api",
        dest="url",
        default=os.environ.get("SQLFLUFF_SERVICE_URL") or DEFAULT_URL,
        help=f"the service's base URL (default: $SQLFLUFF_SERVICE_URL, else {DEFAULT_URL})",
    )
    where.add_argument(
        "--api-key",
        default=os.environ.get("SQLFLUFF_SERVICE_KEY")
        or os.environ.get("SQLFLUFF_SERVICE_API_KEY"),
        help="the API key, sent as a bearer token (default: $SQLFLUFF_SERVICE_KEY)",
    )
    where.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for the job at most"
    )
    lint = submit.add_argument_group("linting, as `sqlfluff lint` flags")
    lint.add_argument(
        "--dialect", help="SQLFluff dialect (default: the config's, or the service's)"
    )
    lint.add_argument(
        "--templater", choices=("raw", "jinja", "placeholder", "python"), help="SQLFluff templater"
    )
    lint.add_argument("--rules", help="only these rules, comma-separated codes or groups")
    lint.add_argument("--exclude-rules", help="leave out these rules, comma-separated")
    lint.add_argument("--config", type=Path, help="a .sqlfluff file applied to the whole job")
    lint.add_argument(
        "--disregard-sqlfluffignores",
        action="store_true",
        help="send files that .sqlfluffignore or ignore_paths exclude (they are still sent)",
    )
    lint.add_argument("--fix", action="store_true", help="also have the service compute fixes")
    lint.add_argument("--submitter", help="who submits, recorded on the job (e.g. the CI job)")
    review = submit.add_argument_group("review: projects, baselines, new findings")
    review.add_argument(
        "--project", help="lint with this project's profile; its quality gate decides the exit"
    )
    review.add_argument(
        "--baseline",
        metavar="JOB_ID|latest",
        help="findings also in this job (or the project's latest COMPLETED one) are not new",
    )
    review.add_argument("--ref", help="the branch or tag submitted (for --baseline latest)")
    review.add_argument(
        "--new-only",
        action="store_true",
        help="only new findings count for the exit code and in sarif, junit, csv, html and "
        "gitlab output",
    )
    review.add_argument(
        "--patch",
        type=Path,
        metavar="FILE",
        help="with --fix: write one git diff of every fixed file to FILE (`git apply FILE`)",
    )
    out = submit.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=formats.FORMATS,
        default="human",
        help="human (as `sqlfluff lint`), json (as `--format json`), github-annotation-native, "
        "gitlab (Code Quality), sarif, junit, csv or html (default: human)",
    )
    out.add_argument(
        "--write-output",
        "--output",
        dest="output",
        type=Path,
        help="write the output to this file instead of stdout",
    )
    out.add_argument(
        "--annotation-level",
        choices=("notice", "warning", "error", "failure"),
        default="warning",
        help="level of github-annotation-native lines (default: warning; warnings are notices)",
    )
    out.add_argument(
        "--path-prefix",
        help="the submitted folder's path from the repository root, put before every path in "
        "sarif, gitlab and github-annotation-native output (default: found from the git root)",
    )
    out.add_argument(
        "--fail-on",
        choices=service.SEVERITIES,
        default="INFO",
        help="exit 1 only for violations of this severity or worse (default: INFO, any)",
    )
    out.add_argument(
        "--nofail", action="store_true", help="exit 0 whatever is found (errors still exit 2)"
    )
    out.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="print the job id and exit 0 without waiting for the job",
    )
    out.add_argument("--wait", action="store_true", help="wait for the job (the default)")
    out.add_argument(
        "--job",
        metavar="JOB_ID",
        help="read this job's output instead of submitting PATH again (PATH still names the "
        "folder, for the paths printed), e.g. to write a second format",
    )
    return parser


def _payload(args: argparse.Namespace, err: Console) -> tuple[str, bytes]:
    """The upload's file name and bytes: a .zip as it is, else the selected files zipped."""
    if args.zip:
        return args.zip.name, args.zip.read_bytes()
    honour = not args.disregard_sqlfluffignores
    if args.folder is not None:
        selection = files.select_files(args.folder, honour)
        if not selection.sql_files:
            raise service.ServiceError(f"no SQL files to lint under {args.folder}")
    else:
        selection = files.select_paths(args.base, args.paths, honour)
    err.print(
        f"sending {len(selection.sql_files)} SQL file(s) from {args.folder or args.base}"
        + (f", {len(selection.ignored_sql)} ignored" if selection.ignored_sql else ""),
        highlight=False,
    )
    root = args.folder or args.base
    name = f"{root.resolve().name or 'folder'}.zip"
    return name, files.zip_selection(root, selection) if selection.sql_files else b""


def _display(args: argparse.Namespace, name: str) -> str:
    """A file's path as `sqlfluff lint PATH ...` prints it."""
    if args.zip:
        return name
    if args.folder is not None:
        return os.path.normpath(os.path.join(str(args.folder), name))
    return os.path.relpath(args.base / name)


def _where(args: argparse.Namespace) -> None:
    """Sort the paths given into one .zip, one folder, or files and folders under a base (the
    current folder, or the folder holding them all when some lie outside it)."""
    for path in args.paths:
        if not path.exists():
            raise service.ServiceError(f"{path} does not exist")
    args.zip = args.folder = None
    args.base = Path.cwd()
    if len(args.paths) == 1 and args.paths[0].suffix.lower() == ".zip":
        args.zip = args.paths[0]
    elif len(args.paths) == 1 and args.paths[0].is_dir():
        args.folder = args.paths[0]
    elif any(not p.resolve().is_relative_to(args.base.resolve()) for p in args.paths):
        folders = [str(p.resolve() if p.is_dir() else p.resolve().parent) for p in args.paths]
        args.base = Path(os.path.commonpath(folders))


def _output(args: argparse.Namespace, http: httpx.Client, job_id: str, prefix: str) -> bytes:
    fmt = args.format
    if fmt in formats.REPORT_FORMATS:
        params = {"path_prefix": prefix} if fmt == "sarif" and prefix else {}
        if args.new_only:
            params["new_only"] = "true"
        return service.report(http, job_id, fmt, params)
    if fmt == "gitlab":
        found = service.violations(http, job_id, new_only=args.new_only)
        return formats.gitlab(list(found), prefix).encode()
    records, _ = service.records(http, job_id)
    if fmt == "github-annotation-native":
        for r in records:
            r["filepath"] = f"{prefix}/{r['filepath']}" if prefix else r["filepath"]
        return formats.github_annotations(records, args.annotation_level).encode()
    for r in records:
        r["filepath"] = _display(args, r["filepath"])
    if fmt == "json":
        return formats.as_json(records).encode()
    return formats.human(records).encode()


def run(args: argparse.Namespace, err: Console) -> int:
    _where(args)
    name, data = ("", b"") if args.job else _payload(args, err)
    if not args.job and not data:  # named files SQLFluff would not lint: as it, nothing to do
        err.print("no SQL files to lint among the paths given", highlight=False)
        return EXIT_OK
    form: dict[str, Optional[str]] = {
        "dialect": args.dialect,
        "templater": args.templater,
        "rules": args.rules,
        "exclude_rules": args.exclude_rules,
        "config": args.config.read_text() if args.config else None,
        "fix": "true" if args.fix else None,
        "submitter": args.submitter,
        "project_id": args.project,
        "baseline": "latest" if args.baseline == "latest" else None,
        "baseline_job_id": args.baseline if args.baseline not in (None, "latest") else None,
        "ref": args.ref,
    }
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    headers["User-Agent"] = f"sqlfluff-service-client/{__version__}"
    with httpx.Client(base_url=args.url, timeout=60, headers=headers) as http:
        job_id = args.job or service.submit(http, name, data, form)
        if not args.wait:
            print(job_id)
            return EXIT_OK
        err.print(f"job {job_id} accepted", highlight=False)
        summary = service.wait(http, job_id, args.timeout, err)
        if summary["job_status"] == "FAILED":
            raise service.ServiceError(f"job {job_id} FAILED: {summary['error_message']}")
        prefix = args.path_prefix
        if prefix is None:  # a .zip's paths are its own: no prefix unless told
            prefix = "" if args.zip else files.path_prefix(args.folder or args.base)
        body = _output(args, http, job_id, prefix.strip("/"))
        gate = summary.get("gate")
        if gate:  # the project's quality gate decides, as the service evaluated it
            blocking = gate.get("status") == "failed"
        else:
            found = service.violations(http, job_id, args.fail_on, args.new_only)
            blocking = any(not v["warning"] for v in found)
        if args.patch:
            args.patch.write_bytes(service.patch(http, job_id))
        _, failed = (
            service.records(http, job_id) if summary["job_status"] != "COMPLETED" else (0, [])
        )
    if args.output:
        args.output.write_bytes(body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    for file_name, reason in failed:
        err.print(f"[red]not linted:[/red] {file_name}: {reason}", highlight=False)
    verdict = (
        f", quality gate {gate['status']}: {'; '.join(gate.get('reasons') or [])}"
        if gate
        else (f", some{' new' if args.new_only else ''} at {args.fail_on} or worse")
        if blocking
        else ""
    )
    err.print(
        f"{summary['job_status']}: {summary['violations_total']} violation(s){verdict}",
        highlight=False,
    )
    if failed:
        return EXIT_ERROR
    return EXIT_VIOLATIONS if blocking and not args.nofail else EXIT_OK


def main(argv: Optional[list[str]] = None) -> int:
    args = _parser().parse_args(argv)
    err = Console(stderr=True)
    try:
        return run(args, err)
    except service.ServiceError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/red] the service at {args.url} did not answer: {exc}")
    except OSError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
    return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
