"""The soak runs only when asked (`make test-soak` sets SOAK_SECONDS): it takes minutes, so
`make test` does not collect it."""

import os

if not os.environ.get("SOAK_SECONDS"):
    collect_ignore_glob = ["test_*.py"]
