"""Which SQL files of an expanded archive SQLFluff's own discovery lints: what its
`.sqlfluffignore` files and the `ignore_paths` of its configs leave, worked out in a sandboxed
child with a time limit.

The patterns are the submitter's, and the regexes `pathspec` builds from them can take
exponential time (`*a*a*a*...b` against a long name): in the flow-run process that would hold
a run, and its job, for hours. The child also skips the configs the policy refused (their files
fail anyway), which SQLFluff's discovery would otherwise load and could not.

`python -m linting.sandbox ... linting.discovery` runs `main` in the child.
"""

import json
import subprocess
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from core.settings import Settings
from linting.errors import BadArchive
from linting.sandbox import child_command, policy_from_settings


def lintable_files(
    folder: Path, exts: tuple[str, ...], refused: Collection[str], settings: Settings
) -> set[str]:
    """The SQL files under `folder` (relative, POSIX) SQLFluff's discovery would lint.

    Args:
        refused: the configs (relative paths) the policy refused; not read.

    Raises:
        BadArchive: an ignore file SQLFluff cannot read, or patterns that take longer than
            LINT_TIMEOUT_SECONDS to apply.
    """
    argv, env = child_command("linting.discovery", policy_from_settings(settings))
    request = {"folder": str(folder), "exts": list(exts), "refused": sorted(refused)}
    limit = settings.LINT_TIMEOUT_SECONDS
    try:
        done = subprocess.run(
            argv, env=env, input=json.dumps(request).encode(), capture_output=True, timeout=limit
        )
    except subprocess.TimeoutExpired:
        raise BadArchive(
            "the archive's ignore patterns (.sqlfluffignore, ignore_paths) took longer than "
            f"{limit:g} s to apply (LINT_TIMEOUT_SECONDS)"
        ) from None
    try:
        reply: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        raise BadArchive(
            "the archive's ignore patterns could not be applied: the process applying them "
            f"ended with exit code {done.returncode}"
        ) from None
    if "error" in reply:
        raise BadArchive(str(reply["error"]))
    return set(reply["files"])


def _skip_refused(
    folder: Path, refused: set[str], load: Callable[[str, str], Any]
) -> Callable[[str, str], Any]:
    def loader(dirpath: str, filename: str) -> Any:
        if Path(dirpath, filename).relative_to(folder).as_posix() in refused:
            return None
        return load(dirpath, filename)

    return loader


def main() -> None:
    from sqlfluff.core.errors import SQLFluffUserError
    from sqlfluff.core.linter import discovery

    request = json.loads(sys.stdin.read())
    folder = Path(request["folder"])
    refused = set(request["refused"])
    for name, load in list(discovery.ignore_file_loaders.items()):
        if name != ".sqlfluffignore":  # the config files that may hold `ignore_paths`
            discovery.ignore_file_loaders[name] = _skip_refused(folder, refused, load)
    try:
        found = discovery.paths_from_path(
            str(folder), working_path=str(folder), target_file_exts=tuple(request["exts"])
        )
        reply: dict[str, Any] = {"files": [Path(p).relative_to(folder).as_posix() for p in found]}
    except Exception as exc:  # noqa: BLE001 - any of them is the archive's, told as such
        # Named by the archive's own paths: the share's layout is not the submitter's business.
        reason = str(exc).replace(f"{folder}/", "").replace(str(folder), ".")
        what = "an ignore file" if isinstance(exc, SQLFluffUserError) else "a config file"
        reply = {"error": f"cannot read {what}: {type(exc).__name__}: {reason}"[:2000]}
    sys.stdout.write(json.dumps(reply))


if __name__ == "__main__":
    main()
