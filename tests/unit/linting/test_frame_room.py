"""Room on CPython's frame stack: deep recursion under `call_with_frame_room` stops mapping and
unmapping memory (counted as page faults), and the lint child lints inside it.

Each measurement runs in a fresh interpreter, so nothing this test process did is counted.
"""

import json
import subprocess
import sys
from pathlib import Path

from linting.engine import LintRequest

REPO = Path(__file__).resolve().parents[3]

# Recursion 600 frames deep, 3,000 times: it crosses CPython's 16 KiB frame-stack chunks on
# every descent unless the frames land in room reserved beforehand.
_OSCILLATE = """
import resource, sys
from linting.frame_room import call_with_frame_room

def down(n):
    return 0 if n == 0 else down(n - 1) + 1

def oscillate():
    for _ in range(3000):
        down(600)

oscillate()  # warm: code objects and caches
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
call_with_frame_room(oscillate) if sys.argv[1] == "room" else oscillate()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _OSCILLATE, mode],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout)


def test_deep_recursion_in_the_room_does_not_fault_on_every_descent() -> None:
    plain, room = _faults("plain"), _faults("room")
    assert plain >= 3000, f"expected a fault per descent without the room, got {plain}"
    assert room < plain / 20, f"{room} page faults inside the room against {plain} without"


def _child_faults(tmp_path: Path, files: int) -> int:
    """Page faults of a whole lint child (start to exit) that lints `files` small files."""
    requests = []
    for i in range(files):
        source = tmp_path / f"q{i}.sql"
        source.write_text(
            f"select\n    o.id,\n    o.amount_{i} as amount\nfrom orders as o\n"
            f"join customers as c on o.customer_id = c.id\nwhere o.id > {i}\n"
        )
        request = LintRequest.for_dialect(
            str(source), source.name, str(tmp_path / f"q{i}.json"), "ansi", 1_048_576
        )
        requests.append(json.dumps(request.__dict__))
    script = (
        "import resource, runpy, sys\n"
        "try:\n"
        "    runpy.run_module('linting.child_process', run_name='__main__')\n"
        "finally:\n"
        "    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt, file=sys.stderr)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        input="\n".join(requests) + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert len(out.stdout.splitlines()) == files, out.stderr[-2000:]
    assert all(json.loads(line)["error"] is None for line in out.stdout.splitlines())
    return int(out.stderr.strip().splitlines()[-1])


def test_the_lint_child_parses_without_frame_stack_faults(tmp_path: Path) -> None:
    # The difference cancels the child's start (imports, the dialect): per-file faults remain.
    # Without the room a file like these cost ~450 faults here; with it ~50.
    per_file = (_child_faults(tmp_path, 45) - _child_faults(tmp_path, 5)) / 40
    assert per_file < 150, f"{per_file:.0f} page faults per small file"
