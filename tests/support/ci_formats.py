"""The readers CI tools apply to the client's output, written down from their documentation:
GitLab's Code Quality report, GitHub's workflow commands and its limits on SARIF uploads."""

import re
from typing import Any

# https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format
GITLAB_CODE_QUALITY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["description", "check_name", "fingerprint", "severity", "location"],
        "properties": {
            "description": {"type": "string", "minLength": 1},
            "check_name": {"type": "string", "minLength": 1},
            "fingerprint": {"type": "string", "minLength": 1},
            "severity": {"enum": ["info", "minor", "major", "critical", "blocker"]},
            "location": {
                "type": "object",
                "required": ["path", "lines"],
                "properties": {
                    "path": {"type": "string", "minLength": 1},
                    "lines": {
                        "type": "object",
                        "required": ["begin"],
                        "properties": {
                            "begin": {"type": "integer", "minimum": 1},
                            "end": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
        },
    },
}

# https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions
_PROPERTY = r"[^,:\r\n]*"
GITHUB_COMMAND = re.compile(
    r"^(?:::group::[^\r\n]+|::endgroup::"
    rf"|::(?:notice|warning|error) title=SQLFluff,file={_PROPERTY},line=\d+,col=\d+"
    r"(?:,endLine=\d+)?(?:,endColumn=\d+)?::[^\r\n]+)$"
)

# https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning#validating-your-sarif-file
GITHUB_SARIF_LIMITS = {"runs": 20, "results": 25_000, "rules": 25_000, "locations": 1_000}


def check_github_sarif_limits(log: dict[str, Any]) -> None:
    assert len(log["runs"]) <= GITHUB_SARIF_LIMITS["runs"]
    for run in log["runs"]:
        assert len(run["results"]) <= GITHUB_SARIF_LIMITS["results"]
        assert len(run["tool"]["driver"].get("rules", [])) <= GITHUB_SARIF_LIMITS["rules"]
        for result in run["results"]:
            assert len(result["locations"]) <= GITHUB_SARIF_LIMITS["locations"]
            # Code scanning places a result only by a relative URI (from the repository root).
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            assert not uri.startswith(("/", "file:")), uri
