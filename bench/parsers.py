"""Compare SQLFluff's Python and Rust parsers on a corpus folder: time and differing files.

    .venv/bin/python -m bench.parsers ../shared/corpus/mixed/postgres postgres

Files over 100 KB are left out (minutes each with the Python parser).
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from linting.engine import LintRequest, lint_file

folder, dialect = sys.argv[1], sys.argv[2]
files = sorted(p for p in Path(folder).rglob("*.sql") if p.stat().st_size < 100_000)
d = Path(tempfile.mkdtemp())
res = {}
for rust in (False, True):
    out = {}
    t = time.time()
    for f in files:
        o = lint_file(
            LintRequest.for_dialect(str(f), f.name, str(d / "r.json"), dialect, 10**6, rust)
        )
        out[str(f)] = json.loads((d / "r.json").read_text())[0]["violations"] if o.ok else o.error
    res[rust] = out
    print(folder, "rust" if rust else "python", round(time.time() - t, 1), flush=True)
diff = [n for n in res[False] if res[False][n] != res[True][n]]
print(folder, len(files), "differ:", diff)
for n in diff[:3]:
    a, b = res[False][n], res[True][n]
    print(
        " ", n, len(a), len(b), [x for x in a if x not in b][:2], [x for x in b if x not in a][:2]
    )
