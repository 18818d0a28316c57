"""The lint child process: reads one JSON `LintRequest` per line, lints, answers one line.

Started by `linting.children.LintChild` inside its sandbox (`linting.sandbox`). Its own stdout
is moved to stderr at start, so nothing SQLFluff prints can corrupt the reply channel; it exits
when its parent closes stdin. It reads no `.env` file: its settings are the few variables the
sandbox passes (LOG_LEVEL, LOG_FORMAT), never the service's secrets.
"""

import dataclasses
import json
import os
import sys

from core.logging import configure_logging
from core.settings import Settings
from linting.engine import LintRequest, lint_file


def main() -> None:
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    configure_logging(Settings(_env_file=None))  # type: ignore[call-arg]
    for line in sys.stdin:
        outcome = lint_file(LintRequest(**json.loads(line)))
        # Shallow: `dataclasses.asdict` would deep-copy every violation first.
        reply = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(outcome)}
        replies.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
