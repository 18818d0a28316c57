"""The CI examples of docs/ci.md and the pre-commit hook of .pre-commit-hooks.yaml, read as the
CI tools read them, so a test can run their exact commands."""

import re
from typing import Any

import yaml

from tests.support.databases import REPO_ROOT

CI_DOC = REPO_ROOT / "docs/ci.md"
HOOKS = REPO_ROOT / ".pre-commit-hooks.yaml"
_FENCE = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# `${{ vars.NAME }}` and `${{ secrets.NAME }}` in a GitHub Actions workflow.
_EXPRESSION = re.compile(r"\$\{\{\s*([\w.]+)\s*\}\}")


def doc_example(first_line: str) -> Any:
    """The YAML block of docs/ci.md whose first line is `first_line` (a comment naming the
    file it stands for), parsed."""
    blocks = [b for b in _FENCE.findall(CI_DOC.read_text()) if b.startswith(first_line + "\n")]
    assert len(blocks) == 1, f"docs/ci.md has {len(blocks)} blocks starting {first_line!r}"
    return yaml.safe_load(blocks[0])


def hook_definition(hook_id: str) -> dict[str, Any]:
    hooks = [h for h in yaml.safe_load(HOOKS.read_text()) if h["id"] == hook_id]
    assert len(hooks) == 1, hooks
    return dict(hooks[0])


def github_expressions(value: str, context: dict[str, str]) -> str:
    """A workflow value with its `${{ ... }}` expressions replaced from `context`."""
    return _EXPRESSION.sub(lambda m: context[m.group(1)], value)
