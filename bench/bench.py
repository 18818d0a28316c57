"""Side-by-side benchmark: the SQLFluff CLI vs the service end to end, on the same files.

Run by hand (not a test), from the repository root, on an otherwise idle machine:

    .venv/bin/python -m bench.bench                       # default folders, SQLite
    .venv/bin/python -m bench.bench --folder tpcds:ansi --synthetic 0
    .venv/bin/python -m bench.bench --folder none --synthetic 0 --inline 0   # POST /lint only
    DATABASE_URL=mysql+pymysql://root@127.0.0.1:3306/sqlfluff_bench .venv/bin/python -m bench.bench

It starts the whole system with `python -m deployments.up` (as `make up` does) on free ports and
a temp data dir, then for each folder: (a) times `sqlfluff lint --format json --processes N`,
(b) times POST of the folder as one ZIP until the job is final, (c) sums per-file lint CPU in
one process. Prints a Markdown table row per folder.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import shapes
from deployments.processes import free_port, start, stop, tail, wait_for
from linting.engine import LintRequest, effective_config_text, lint_file

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
MAX_BYTES = 1_048_576
DEFAULT_FOLDERS = ["tpcds:ansi", "mixed/postgres:postgres", "mixed/mysql:mysql", "mixed/tsql:tsql"]


@dataclass
class System:
    proc: subprocess.Popen[bytes]
    api: str
    shared: Path
    pids: dict[str, int]


def start_system(data: Path, rust: bool) -> System:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env["SQLFLUFF_USE_RUST_PARSER"] = str(rust).lower()
    env.update(
        DATA_DIR=str(data),
        API_PORT=str(free_port()),
        PREFECT_SERVER_PORT=str(free_port()),
        DASK_SCHEDULER_PORT=str(free_port()),
        PREFECT_HOME=str(data / "prefect"),
    )
    log = data / "up.log"
    proc = start([sys.executable, "-m", "deployments.up"], env, log, cwd=REPO)

    def ready() -> dict[str, Any] | None:
        assert proc.poll() is None, tail(log)
        for line in log.read_text().splitlines():
            if line.startswith("READY "):
                return dict(json.loads(line[6:]))
        return None

    info = wait_for(ready, 300, lambda: tail(log), 0.5)
    return System(proc, info["api"], data / "shared", info["pids"])


def sql_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.sql") if p.is_file())


def time_cli(folder: Path, dialect: str, processes: int, work: Path, rust: bool) -> float:
    cfg = work / "cli.sqlfluff"
    cfg.write_text(effective_config_text(dialect, MAX_BYTES, rust))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "sqlfluff"),
            "lint",
            "--format",
            "json",
            "--dialect",
            dialect,
            "--config",
            str(cfg),
            "--processes",
            str(processes),
            str(folder),
        ],
        cwd=work,
        capture_output=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return elapsed


def time_cli_args(args: list[str], work: Path) -> float:
    """Seconds of one `sqlfluff` CLI run (exit 0 or 1: lint found violations)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "sqlfluff"), *args],
        cwd=work,
        capture_output=True,
        timeout=3600,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return elapsed


def limits_only_config(work: Path, rust: bool) -> Path:
    """The service's own limits as a CLI `--config`, with no dialect: a tree's folders set it."""
    cfg = work / "limits.sqlfluff"
    cfg.write_text(
        f"[sqlfluff]\nlarge_file_skip_byte_limit = {MAX_BYTES}\n"
        f"use_rust_parser = {str(rust).lower()}\n"
    )
    return cfg


def speed_row(label: str, files: int, cli: float, wall: float, target: str, job: str) -> str:
    """A row: CLI and service seconds, the service's speed relative to the CLI, its goal."""
    return (
        f"| {label} | {files} | CLI {cli:.1f} s | service {wall:.1f} s | "
        f"speed {cli / wall:.2f}x | target {target} | {job} |"
    )


def folder_configs_rows(
    system: System, folders: int, processes: int, work: Path, rust: bool, fix: bool
) -> list[str]:
    """A tree where every folder has its own `.sqlfluff`, as one archive, against the CLI on
    the same tree; with `fix`, a fix job against CLI `lint` + `fix -f` on a copy."""
    entries = shapes.folder_config_tree(CORPUS, folders)
    tree = work / "folder-configs"
    shapes.write_tree(tree, entries)
    make_zip(system.shared / "bench/folder-configs.zip", entries)
    cfg = limits_only_config(work, rust)
    n = sum(1 for name in entries if name.endswith(".sql"))
    lint = ["lint", "--format", "json", "--processes", str(processes), "--config", str(cfg)]
    cli = time_cli_args([*lint, str(tree)], work)
    wall, job, _ = run_job(system, {"zip_file_path": "bench/folder-configs.zip"})
    rows = [
        speed_row(
            f"{folders} folders, each its own .sqlfluff",
            n,
            cli,
            wall,
            ">= 1.0x (stretch 1.15x)",
            f"{job['job_status']} {job['progress']['SUCCESS']}/{job['sub_tasks']['total']}",
        )
    ]
    if fix:
        copy = work / "folder-configs-fix"
        shapes.write_tree(copy, entries)
        fix_args = ["fix", "-f", "--processes", str(processes), "--config", str(cfg), str(copy)]
        cli_fix = time_cli_args([*lint, str(copy)], work) + time_cli_args(fix_args, work)
        wall, job, _ = run_job(system, {"zip_file_path": "bench/folder-configs.zip", "fix": True})
        rows.append(
            speed_row(
                "the same with fix: true (CLI: lint + fix -f)",
                n,
                cli_fix,
                wall,
                ">= 1.0x",
                f"{job['job_status']} {job['progress']['SUCCESS']}/{job['sub_tasks']['total']}",
            )
        )
    return rows


def concurrent_row(
    system: System, jobs: int, files: int, processes: int, work: Path, rust: bool
) -> str:
    """`jobs` archives of `files` files submitted at once, against the CLI run on each in turn
    (what `jobs` CI pipelines on one runner would do)."""
    shaped = shapes.small_jobs(CORPUS, jobs, files)
    cli = 0.0
    bodies = []
    for j, (dialect, entries) in enumerate(shaped):
        folder = work / f"small-{j:02}"
        shapes.write_tree(folder, entries)
        make_zip(system.shared / f"bench/small-{j:02}.zip", entries)
        bodies.append({"zip_file_path": f"bench/small-{j:02}.zip", "dialect": dialect})
        cfg = work / f"small-{j:02}.sqlfluff"
        cfg.write_text(effective_config_text(dialect, MAX_BYTES, rust))
        cli += time_cli_args(
            [
                "lint",
                "--format",
                "json",
                "--processes",
                str(processes),
                "--dialect",
                dialect,
                "--config",
                str(cfg),
                str(folder),
            ],
            work,
        )
    results: list[tuple[float, dict[str, Any], list[float]]] = [None] * jobs  # type: ignore[list-item]
    started = [0.0] * jobs
    before = cpu_by_role(system.pids)
    t0 = time.perf_counter()

    def one(j: int) -> None:
        # Each client asks twice a second: at 0.1 s, 20 clients made the API the busiest role
        # (30 s of its CPU in a 65 s run), a load no CLI comparison includes.
        started[j] = time.perf_counter() - t0
        results[j] = run_job(system, bodies[j], poll=0.5)

    threads = [threading.Thread(target=one, args=(j,)) for j in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The burst ends with its last job's final status (each job's own end, as in run_job).
    wall = max(started[j] + results[j][0] for j in range(jobs))
    statuses = sorted({r[1]["job_status"] for r in results})
    each = sorted(r[0] for r in results)
    return speed_row(
        f"{jobs} concurrent jobs of {files} files (CLI: {jobs} runs in turn)",
        jobs * files,
        cli,
        wall,
        ">= 1.0x",
        f"{'/'.join(statuses)}; per job median {statistics.median(each):.1f} s; CPU s: "
        + cpu_delta(before, cpu_by_role(system.pids)),
    )


def cpu_per_file(files: list[Path], dialect: str, work: Path, rust: bool) -> float:
    """Sum of per-file lint CPU seconds in this one process (after one warm-up file)."""
    out = work / "cpu.json"
    lint_file(LintRequest.for_dialect(str(files[0]), "w", str(out), dialect, MAX_BYTES, rust))
    total = 0.0
    for f in files:
        t0 = time.process_time()
        lint_file(LintRequest.for_dialect(str(f), f.name, str(out), dialect, MAX_BYTES, rust))
        total += time.process_time() - t0
    return total


def small_query(i: int) -> bytes:
    """A small ansi statement (7-8 lines), different in every file (no result-cache hits)."""
    return (
        f"select\n    o.id,\n    o.amount_{i} as amount,\n    c.name\n"
        f"from orders_{i % 13} as o\njoin customers as c on o.customer_id = c.id\n"
        f"where o.created_at > '2024-01-{1 + i % 28:02}'\n" + ("" if i % 3 else "order by o.id\n")
    ).encode()


def make_zip(target: Path, files: dict[str, bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def run_job(
    system: System, body: dict[str, Any], poll: float = 0.5
) -> tuple[float, dict[str, Any], list[float]]:
    """Submit and wait; returns the seconds from the POST to the job's final status, the final
    job body, and the latency of each poll (page 1 of `GET /jobs/{id}`) while it ran.

    The end is the job's own `updated_at` as it became final (same machine, same clock), not
    the moment a poll saw it, so `poll` only sets how much load the waiting adds: a client
    polling every 20 ms costs the API and this process CPU that the CLI beside it never pays."""
    t0 = time.time()
    r = httpx.post(f"{system.api}/jobs", json=body, timeout=60)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    latencies: list[float] = []
    with httpx.Client(timeout=60) as client:
        while True:
            s = time.perf_counter()
            job = client.get(f"{system.api}/jobs/{job_id}").json()
            if job["job_status"] == "PROCESSING":
                latencies.append(time.perf_counter() - s)
            if job["job_status"] in ("COMPLETED", "PARTIALLY_COMPLETED", "FAILED"):
                finished = datetime.fromisoformat(job["updated_at"])
                if finished.tzinfo is None:  # the API's timestamps are UTC
                    finished = finished.replace(tzinfo=UTC)
                return finished.timestamp() - t0, job, latencies
            time.sleep(poll)


class RssSampler(threading.Thread):
    """Peak RSS per process tree root (the roles of deployments.up and their children)."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.peak, self.done = pids, {}, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            for root in self.pids.values():
                for pid in _tree(root):
                    try:
                        status = Path(f"/proc/{pid}/status").read_text()
                    except OSError:
                        continue
                    kb = int(
                        next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
                    )
                    self.peak[pid] = max(self.peak.get(pid, 0), kb)


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:  # children started by any thread, not only the main one
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            out += _tree(int(child))
    return out


def cpu_by_role(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each role's living process tree."""
    tick = os.sysconf("SC_CLK_TCK")
    usage: dict[str, float] = {"lint children": 0.0}
    for role, root in pids.items():
        usage.setdefault(role, 0.0)
        for pid in _tree(root):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            # lint children are counted apart: their CPU is SQLFluff's own work
            key = "lint children" if b"linting.child_process" in cmdline else role
            usage[key] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return usage


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> str:
    return ", ".join(f"{r} {after[r] - before.get(r, 0):.1f}" for r in after)


LINT_NOW_QUERY = CORPUS / "tpch/q04.sql"  # 20 lines


def lint_now_row(system: System, requests: int, work: Path, rust: bool) -> str:
    """POST /lint latency on a warm service, beside SQLFluff's own in-process time for the
    same text and one `sqlfluff lint` CLI run (what an editor would otherwise spawn)."""
    sql = LINT_NOW_QUERY.read_text()
    with httpx.Client(base_url=system.api, timeout=60) as http:
        for _ in range(5):  # warm: the pool's Linter for these options
            assert http.post("/lint", json={"sql": sql}).status_code == 200
        times = []
        for _ in range(requests):
            t0 = time.perf_counter()
            response = http.post("/lint", json={"sql": sql})
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, response.text
    times.sort()
    own = [cpu_per_file([LINT_NOW_QUERY], "ansi", work, rust) for _ in range(5)]
    cli = time_cli_file(LINT_NOW_QUERY, "ansi", work, rust)
    pct = [times[int(len(times) * q) - 1] * 1000 for q in (0.5, 0.9, 0.99)]
    return (
        f"| POST /lint {LINT_NOW_QUERY.name} ({len(sql.splitlines())} lines), {requests} requests"
        f" | p50 {pct[0]:.1f} ms | p90 {pct[1]:.1f} ms | p99 {pct[2]:.1f} ms | SQLFluff in-process"
        f" {statistics.median(own) * 1000:.1f} ms | CLI process {cli * 1000:.0f} ms |"
    )


def time_cli_file(path: Path, dialect: str, work: Path, rust: bool) -> float:
    cfg = work / "cli-one.sqlfluff"
    cfg.write_text(effective_config_text(dialect, MAX_BYTES, rust))
    t0 = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "sqlfluff"),
            "lint",
            "--format",
            "json",
            "--config",
            str(cfg),
            str(path),
        ],
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--folder", action="append", help="corpus-relative folder:dialect ('none': no folders)"
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--synthetic", type=int, default=20_000, help="files in the synthetic archive (0: skip)"
    )
    parser.add_argument(
        "--inline", type=int, default=10, help="inline submissions for the latency median"
    )
    parser.add_argument(
        "--lint-now", type=int, default=200, help="POST /lint requests for the latency figures"
    )
    parser.add_argument(
        "--rust", action="store_true", help="SQLFLUFF_USE_RUST_PARSER=true on both sides"
    )
    parser.add_argument(
        "--relint", action="store_true", help="submit each archive twice (result cache)"
    )
    parser.add_argument(
        "--folder-configs",
        type=int,
        default=0,
        help="folders of a tree where each has its own .sqlfluff (0: skip; issue 12 uses 2400)",
    )
    parser.add_argument(
        "--fix", action="store_true", help="also a fix job of the --folder-configs tree"
    )
    parser.add_argument(
        "--concurrent",
        default="",
        help="JOBSxFILES small jobs submitted at once, e.g. 20x20 (empty: skip)",
    )
    args = parser.parse_args()
    # SIGTERM (and SIGINT, which a background job ignores) end the run through `finally`.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(1))
    folders = [f for f in (args.folder or DEFAULT_FOLDERS) if f != "none"]
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    system = start_system(work / "data", args.rust)
    print(
        f"# {os.cpu_count()} cores, parser: {'rust' if args.rust else 'python'}, "
        f"CLI --processes {args.processes}",
        flush=True,
    )
    rows = []
    try:
        for spec in folders:
            rel, dialect = spec.rsplit(":", 1)
            folder = CORPUS / rel
            files = sql_files(folder)
            make_zip(
                system.shared / f"bench/{rel.replace('/', '_')}.zip",
                {p.relative_to(folder).as_posix(): p.read_bytes() for p in files},
            )
            cli = time_cli(folder, dialect, args.processes, work, args.rust)
            before = cpu_by_role(system.pids)
            wall, job, _ = run_job(
                system, {"zip_file_path": f"bench/{rel.replace('/', '_')}.zip", "dialect": dialect}
            )
            roles = cpu_delta(before, cpu_by_role(system.pids))
            cpu = cpu_per_file(files, dialect, work, args.rust)
            eff = cpu / ((os.cpu_count() or 2) * wall)
            n, done = len(files), f"{job['progress']['SUCCESS']}/{job['sub_tasks']['total']}"
            rows.append(
                f"| {rel} ({dialect}) | {n} | {cli:.1f} s = {n / cli:.1f} f/s | "
                f"{wall:.1f} s = {n / wall:.1f} f/s | {wall / cli:.2f} | {cpu:.1f} s | {eff:.0%} | "
                f"{job['job_status']} {done} | {roles} |"
            )
            print(rows[-1], flush=True)
            if args.relint:
                again, job2, _ = run_job(
                    system,
                    {"zip_file_path": f"bench/{rel.replace('/', '_')}.zip", "dialect": dialect},
                    poll=0.1,
                )
                print(
                    f"| re-lint {rel} (cache) | {again:.2f} s | {wall / again:.1f}x faster | "
                    f"{job2['job_status']} |",
                    flush=True,
                )
        if args.synthetic:
            entries = {
                f"s{i // 1000:02}/q{i:05}.sql": small_query(i) for i in range(args.synthetic)
            }
            make_zip(system.shared / "bench/synthetic.zip", entries)
            shapes.write_tree(work / "synthetic", entries)
            cli = time_cli(work / "synthetic", "ansi", args.processes, work, args.rust)
            sampler = RssSampler(system.pids)
            sampler.start()
            # Page latency: the job's own polls, twice a second, while the files lint.
            wall, job, lat = run_job(system, {"zip_file_path": "bench/synthetic.zip"})
            sampler.done.set()
            lat.sort()
            p99 = lat[int(len(lat) * 0.99) - 1] if lat else float("nan")
            row = speed_row(
                f"synthetic ({args.synthetic} small files)",
                args.synthetic,
                cli,
                wall,
                "unchanged or better",
                job["job_status"],
            )
            print(
                f"{row} page-1 p99 {p99 * 1000:.1f} ms over {len(lat)} (target < 50 ms) | "
                f"peak RSS {max(sampler.peak.values()) / 1024:.0f} MB (target < 1.5 GB) |",
                flush=True,
            )
            if args.relint:
                again, job2, _ = run_job(system, {"zip_file_path": "bench/synthetic.zip"})
                print(
                    f"| re-lint synthetic (cache) | {again:.2f} s | {wall / again:.1f}x faster | "
                    f"{job2['job_status']} |",
                    flush=True,
                )
        if args.folder_configs:
            for row in folder_configs_rows(
                system, args.folder_configs, args.processes, work, args.rust, args.fix
            ):
                print(row, flush=True)
        if args.concurrent:
            jobs, files = (int(x) for x in args.concurrent.split("x"))
            print(concurrent_row(system, jobs, files, args.processes, work, args.rust), flush=True)
        if args.lint_now:
            print(lint_now_row(system, args.lint_now, work, args.rust), flush=True)
        if args.inline:
            sql = (CORPUS / "tpch/q01.sql").read_text()
            times = [run_job(system, {"sql_content": sql}, poll=0.1)[0] for _ in range(args.inline)]
            print(
                f"| inline q01, submit -> COMPLETED | first {times[0]:.2f} s | median of the rest "
                f"{statistics.median(times[1:] or times):.2f} s | min {min(times):.2f} | "
                f"max {max(times):.2f} | target median <= 1.0 s (stretch 0.5) |",
                flush=True,
            )
    finally:
        stop(system.proc, grace=30)


if __name__ == "__main__":
    main()
