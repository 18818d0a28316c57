"""What every report format shares: the job's rows, the media types, SQLFluff's rule catalogue."""

from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from db.models import LintingJob, LintingTask, LintingViolation

MEDIA_TYPES = {
    "sarif": "application/sarif+json",
    "junit": "application/xml",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
EXTENSIONS = {"sarif": "sarif", "junit": "xml", "csv": "csv", "html": "html"}


@dataclass(frozen=True)
class JobReportData:
    """A job's rows as the route read them; `shared_root` locates the SQL the HTML page quotes."""

    job: LintingJob
    tasks: list[LintingTask]
    violations: list[LintingViolation]
    shared_root: Path

    def by_task(self) -> dict[str, list[LintingViolation]]:
        grouped: dict[str, list[LintingViolation]] = defaultdict(list)
        for v in self.violations:
            grouped[v.task_id].append(v)
        return grouped


@cache
def rule_catalogue() -> dict[str, tuple[str, str]]:
    """Rule code -> (name, description), from SQLFluff itself."""
    # Imported here: loading SQLFluff's rule plugins costs a second, paid only by SARIF.
    from sqlfluff import list_rules

    return {r.code: (r.name, r.description) for r in list_rules()}
