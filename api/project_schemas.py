"""Request and response models of projects (issue 15): a stored lint profile, severity
overrides, a quality gate, the keys it belongs to; and its trend."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas import LintOptionsIn, RuleCodes, TextIn
from db.models import Project, Severity

RuleKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]+[0-9]*$", max_length=32)]


class GateIn(BaseModel):
    """A quality gate: at most `max[severity]` findings of each listed severity."""

    model_config = ConfigDict(extra="forbid")

    on: Literal["new", "all"] = Field(
        default="new",
        description="Count findings new against the job's baseline (every finding without "
        "one), or all findings.",
    )
    max: dict[Severity, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, description='e.g. {"BLOCKER": 0, "MAJOR": 5}.'
    )
    allow_failed_files: bool = Field(
        default=False, description="Pass even when some files could not be linted."
    )


class ProjectIn(LintOptionsIn):
    """`POST /projects`: a name and a lint profile, checked like a job's options and config."""

    name: str = Field(min_length=1, max_length=255)
    severity_overrides: dict[RuleKey, Severity] = Field(
        default_factory=dict,
        description='Rule code or group -> severity, over SEVERITY_OVERRIDES: {"LT05": "MAJOR"}.',
    )
    gate: GateIn | None = None
    key_ids: list[str] | None = Field(
        default=None,
        description="API keys (ids) the project belongs to; default: the caller's key.",
    )


class ProjectPatch(TextIn):
    """`PATCH /projects/{id}`: the fields given replace the stored ones (null clears)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    dialect: str | None = None
    templater: str | None = None
    rules: RuleCodes | None = None
    exclude_rules: RuleCodes | None = None
    config: str | None = None
    severity_overrides: dict[RuleKey, Severity] | None = None
    gate: GateIn | None = None
    key_ids: list[str] | None = None


class ProjectOut(BaseModel):
    project_id: str
    name: str
    dialect: str | None
    templater: str | None
    rules: list[str]
    exclude_rules: list[str]
    config: str | None
    severity_overrides: dict[str, str]
    gate: dict[str, Any] | None
    key_ids: list[str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Project, key_ids: list[str]) -> "ProjectOut":
        profile = row.profile or {}
        return cls(
            project_id=row.project_id,
            name=row.name,
            dialect=profile.get("dialect"),  # type: ignore[arg-type]
            templater=profile.get("templater"),  # type: ignore[arg-type]
            rules=list(profile.get("rules") or []),  # type: ignore[call-overload]
            exclude_rules=list(profile.get("exclude_rules") or []),  # type: ignore[call-overload]
            config=row.config_text,
            severity_overrides=dict(row.severity_overrides or {}),
            gate=row.gate,
            key_ids=key_ids,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class ProjectList(BaseModel):
    total: int
    page: int
    size: int
    items: list[ProjectOut]


class TrendPoint(BaseModel):
    job_id: str
    created_at: datetime
    job_status: str
    ref: str | None
    by_severity: dict[str, int]
    total: int
    gate: str | None = Field(description="passed, failed, or null (no gate).")


class FingerprintChange(BaseModel):
    fingerprint: str
    file_name: str
    rule_code: str
    severity: Severity
    start_line: int
    description: str


class TrendOut(BaseModel):
    project_id: str
    jobs: list[TrendPoint] = Field(description="Oldest first.")
    compared: dict[str, str | None] = Field(
        description="The two jobs `fixed`/`introduced` compare."
    )
    fixed: list[FingerprintChange]
    introduced: list[FingerprintChange]
