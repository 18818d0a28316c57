"""The service's settings (docs/api.md, Settings), validated once per process at its entry point.

A leaf module: every process (API, flow run, Dask worker, Alembic) imports it, so it imports only
pydantic. Field names are the environment variable names, so `grep NFS_SHARE_ROOT_PATH` finds all.
"""

import sys
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StorageSettings(BaseSettings):
    """Where state lives: the job database, the shared directory, the import area, the cache."""

    DATA_DIR: Path = Field(
        default=Path(".data"),
        description="Folder for the embedded defaults (SQLite file, shared dir, Prefect home).",
    )
    DATABASE_URL: str = Field(
        default="",
        description="SQLAlchemy URL of the job/task DB; empty means a SQLite file in DATA_DIR.",
    )
    NFS_SHARE_ROOT_PATH: Path = Field(
        default=Path(""),
        description="Root of the shared directory; empty means DATA_DIR/shared.",
    )
    IMPORT_ROOT: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._/-]*$",
        description="Folder of the shared root that `zip_file_path` must name a file under "
        "(empty: anywhere but the service's own jobs/, cache/ and tmp/). With "
        "API_KEYS_REQUIRED, a non-admin key may only name files under IMPORT_ROOT/<key_id>/.",
    )
    DB_RETRY_SECONDS: float = Field(
        default=300.0, ge=0, description="How long flows keep retrying while the DB is away."
    )
    RESULT_CACHE_ENABLED: bool = Field(
        default=True,
        description="Reuse results for identical bytes + config + SQLFluff version "
        "(NFS_SHARE_ROOT_PATH/cache/results).",
    )


class LintSettings(BaseSettings):
    """How files are linted and what a lint process may do (linting/)."""

    SQLFLUFF_DIALECT: str = Field(default="ansi", min_length=1)
    SEVERITY_OVERRIDES: dict[str, Literal["INFO", "MINOR", "MAJOR", "CRITICAL", "BLOCKER"]] = Field(
        default_factory=dict,
        description='JSON: rule code or group to severity, e.g. {"LT05": "MAJOR", "CP": '
        '"MINOR"}; see linting/severity.py for the defaults.',
    )
    LINT_MAX_FILE_BYTES: int = Field(
        default=1_048_576,
        gt=0,
        description="Files larger than this are a FAILURE; replaces SQLFluff's silent 20 KB skip.",
    )
    LINT_TIMEOUT_SECONDS: float = Field(
        default=120.0, gt=0, description="Time limit for linting one file."
    )
    # The sandbox of every process that runs SQLFluff on submitted input (linting/sandbox.py).
    LINT_MAX_MEMORY_MB: int = Field(
        default=2048,
        ge=512,  # a lint child with its threads maps ~300 MB before any big file (measured)
        le=1024**2,
        description="Address-space limit (RLIMIT_AS) of each lint process, in MiB.",
    )
    LINT_MAX_TEMPLATED_BYTES: int = Field(
        default=50 * 1024**2,
        gt=0,
        description="Most SQL one file's template may render to; more is that file's FAILURE.",
    )
    LINT_NETWORK_ISOLATION: Literal["auto", "required", "off"] = Field(
        default="auto",
        description="Run lint processes in an empty network namespace: auto (warn once and go "
        "on if impossible), required (refuse to start without), off.",
    )
    LINT_CHILD_MAX_FILES: int = Field(
        default=1000,
        ge=0,
        description="Files one lint process lints before it is replaced (0: never), so the "
        "caches SQLFluff keeps per folder and config cannot grow without bound.",
    )
    SQLFLUFF_USE_RUST_PARSER: bool = Field(
        default=False,
        description="Parse with sqlfluffrs (~2.5x faster; differs from the Python parser on a few "
        "files, so off by default to match a plain SQLFluff install).",
    )
    ZIP_MAX_ENTRIES: int = Field(
        default=100_000, ge=1, description="Entries one archive may hold; more fails the job."
    )
    ZIP_MAX_TOTAL_BYTES: int = Field(
        default=2 * 1024**3,
        ge=1,
        description="Bytes one archive may inflate to; SQL files past it are a FAILURE each.",
    )
    ZIP_MAX_RATIO: float = Field(
        default=200.0,
        gt=1,
        description="Deprecated and ignored: a compression ratio never fails a job (real SQL "
        "dumps compress 300x); per-file LINT_MAX_FILE_BYTES caps inflation instead.",
    )


class FlowSettings(BaseSettings):
    """The flows and the cluster they run on (flows/, services/reconcile.py)."""

    LINT_DEPLOYMENT: str = Field(
        default="lint-job/lint-job", description="flow-name/deployment-name that lints a job."
    )
    DASK_SCHEDULER_ADDRESS: str = Field(
        default="",
        pattern=r"^$|^(tcp|tls|inproc|ucx)://\S+$",
        description="tcp://host:port of a running Dask scheduler; empty: a LocalCluster per run.",
    )
    BATCH_MAX_BYTES: int = Field(
        default=400_000, gt=0, description="Most source bytes in one lint-batch task."
    )
    # Measured both ways (docs/benchmarks.md, session 7): 32 KB cut the task runs of a burst of
    # 20-file jobs by two thirds but not its wall time, and made tpcds' last batches seconds
    # long (0.70x the CLI's speed); bytes are a poor measure of work at the end of a job.
    BATCH_MIN_BYTES: int = Field(
        default=8_000, gt=0, description="Fewest source bytes in a lint-batch (but the last)."
    )
    BATCH_MAX_FILES: int = Field(default=500, ge=1, le=10_000)
    HEARTBEAT_SECONDS: float = Field(
        default=10.0, gt=0, description="How often a running lint-job flow marks its job alive."
    )
    STALE_AFTER_SECONDS: float = Field(
        default=60.0,
        gt=0,
        description="A PROCESSING job whose heartbeat is this old is failed (retryable).",
    )
    RECONCILE_INTERVAL_SECONDS: float = Field(
        default=10.0, gt=0, description="How often the API reconciles jobs with Prefect."
    )
    RECONCILE_PAGE_SIZE: int = Field(
        default=500,
        ge=1,
        description="Unfinished jobs the reconciler reads per query; it pages on to the last.",
    )
    TRIGGER_RETRY_AFTER_SECONDS: float = Field(
        default=30.0,
        gt=0,
        description="An ACCEPTED job with no flow run this old is triggered again.",
    )
    JOB_MAX_ATTEMPTS: int = Field(
        default=3,
        ge=1,
        description="Runs of a job in all: one whose run crashed, lost its host or failed on "
        "an outage is run again automatically until this many attempts (never for bad input).",
    )
    JOB_RETRY_BACKOFF_SECONDS: float = Field(
        default=10.0,
        ge=0,
        description="Wait before an automatic retry; doubled for each further attempt.",
    )
    RELINT_DEPLOYMENT: str = Field(
        default="relint/relint", description="flow-name/deployment-name of the bulk re-lint."
    )
    RELINT_CRON: str = Field(
        default="",
        description="Cron schedule (UTC) of the bulk re-lint, e.g. '0 3 * * *'; empty or off: "
        "on demand only.",
    )
    RELINT_OLDER_THAN_HOURS: float = Field(
        default=24.0, ge=0, description="Scheduled re-lints take jobs at least this old."
    )
    RELINT_LIMIT: int = Field(default=50, ge=1, description="Jobs per scheduled re-lint.")
    PREFECT_WORK_POOL: str = Field(
        default="sqlfluff",
        min_length=1,
        description="Work pool of the production deployments and of prefect-worker.sh.",
    )


class ApiSettings(BaseSettings):
    """The HTTP API: limits, the lint pool behind POST /lint, keys, Consul."""

    UPLOAD_MAX_BYTES: int = Field(
        default=200 * 1024**2, gt=0, description="Largest file POST /jobs/upload accepts (413)."
    )
    INLINE_MAX_BYTES: int = Field(
        default=1024**2, gt=0, description="Largest SQL text POST /lint accepts (413)."
    )
    INLINE_POOL_SIZE: int = Field(
        default=2, ge=1, description="Warm lint processes serving POST /lint in each API process."
    )
    INLINE_MAX_WAITING: int = Field(
        default=8, ge=0, description="POST /lint requests that may queue for a lint process (503)."
    )
    INLINE_TIMEOUT_SECONDS: float = Field(
        default=10.0, gt=0, description="Time limit of one POST /lint request (504)."
    )
    API_KEYS_REQUIRED: bool = Field(
        default=False,
        description="Every route but /health, /metrics and the docs needs an API key "
        "(`sqlfluff-service keys create`).",
    )
    CONSUL_HOST: str = Field(default="", description="Consul agent host; empty skips it.")
    CONSUL_PORT: int = Field(default=8500, ge=1, le=65535)
    CONSUL_SERVICE_NAME: str = Field(default="sqlfluff-service", min_length=1)
    CONSUL_SERVICE_ADDRESS: str = Field(
        default="", description="Address Consul hands out for this instance; empty: API_HOST."
    )
    CONSUL_SERVICE_PORT: int = Field(default=0, ge=0, le=65535, description="0: API_PORT.")
    CONSUL_TAGS: str = Field(default="api,sqlfluff", description="Comma-separated service tags.")
    CONSUL_CHECK_INTERVAL: str = Field(default="10s", pattern=r"^\d+(ms|s|m|h)$")
    CONSUL_DEREGISTER_AFTER: str = Field(default="1m", pattern=r"^\d+(ms|s|m|h)$")
    CONSUL_RECHECK_SECONDS: float = Field(
        default=30.0, gt=0, description="How often the registration is checked and renewed."
    )


class CallbackSettings(BaseSettings):
    """Job callbacks: where they may go, how they are signed and sent (services/callbacks.py)."""

    CALLBACK_SECRET: str = Field(
        default="", description="HMAC-SHA256 key signing job callbacks; empty: unsigned."
    )
    CALLBACK_ATTEMPTS: int = Field(default=5, ge=1, description="Tries per callback.")
    CALLBACK_BACKOFF_SECONDS: float = Field(
        default=1.0, gt=0, description="First wait between callback tries (doubles each time)."
    )
    # Where job callbacks may go and how many are sent at once (services/callbacks.py;
    # docs/security.md).
    CALLBACK_ALLOWED_NETWORKS: str = Field(
        default="",
        pattern=r"^[0-9A-Fa-f:./, ]*$",
        description="Comma-separated CIDRs a callback may reach although not public (e.g. "
        "10.20.0.0/16 for an internal receiver); empty: public addresses only.",
    )
    CALLBACK_CONCURRENCY: int = Field(
        default=8, ge=1, description="Callback deliveries in flight per API process."
    )
    CALLBACK_TIMEOUT_SECONDS: float = Field(
        default=10.0, gt=0, description="Time limit of one callback attempt (DNS to answer)."
    )


class RetentionSettings(BaseSettings):
    """What the scheduled `cleanup` flow removes (flows/cleanup.py). Off by default: nothing
    expires and the result cache is not bounded, as before retention existed."""

    RETENTION_DAYS: float = Field(
        default=0,
        ge=0,
        description="Ended jobs untouched this many days are removed (folders, rows, "
        "violations; a tombstone answers 410); 0: kept for ever.",
    )
    CACHE_MAX_BYTES: int = Field(
        default=0,
        ge=0,
        description="Most bytes the result cache may hold; the least recently used entries past "
        "it are evicted by cleanup; 0: unbounded.",
    )
    CLEANUP_CRON: str = Field(
        default="30 3 * * *",
        description="Cron schedule (UTC) of the cleanup deployment; off: on demand only.",
    )
    CLEANUP_BATCH_SIZE: int = Field(
        default=200, ge=1, le=10_000, description="Jobs removed per transaction by cleanup."
    )
    CLEANUP_DEPLOYMENT: str = Field(
        default="cleanup/cleanup", description="flow-name/deployment-name of the cleanup."
    )


class OperationSettings(BaseSettings):
    """Logs, and the one-host run of `make up` (deployments/up.py)."""

    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the service's own loggers in every process."
    )
    LOG_FORMAT: Literal["json", "text"] = Field(
        default="json", description="json: one object per line; text: for a terminal."
    )
    # Ports and sizes of the one-host run (`make up`, deployments/up.py).
    API_HOST: str = Field(default="127.0.0.1")
    API_PORT: int = Field(default=8000, ge=1, le=65535)
    PREFECT_SERVER_PORT: int = Field(default=4200, ge=1, le=65535)
    DASK_SCHEDULER_PORT: int = Field(default=8786, ge=0, le=65535)
    DASK_N_WORKERS: int = Field(default=2, ge=1, description="Dask worker processes of make up.")
    FLOW_RUN_LIMIT: int = Field(
        default=8, ge=1, description="Concurrent flow runs of one Prefect worker."
    )
    FLOW_RUN_WARM_START: bool = Field(
        default=True,
        description="The worker (deployments/worker.py) starts flow runs forked from a warm "
        "fork server (flows/warm_start.py) instead of a new interpreter each (~2 s of imports).",
    )
    FLOW_RUN_POLL_SECONDS: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often the Prefect worker asks Prefect for runs to start, besides "
        "taking each new run on its Scheduled event: for runs over its limit, or whose event it "
        "missed. Each ask is one small query.",
    )


class Settings(
    StorageSettings,
    LintSettings,
    FlowSettings,
    ApiSettings,
    CallbackSettings,
    RetentionSettings,
    OperationSettings,
):
    """Settings of every process; defaults are the embedded one-host setup. Grouped per
    subsystem above; every field keeps its flat environment variable name."""

    model_config = SettingsConfigDict(
        env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    @field_validator("DATA_DIR")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> "Settings":
        # frozen model: defaults that depend on DATA_DIR are filled in through object.__setattr__
        if not self.DATABASE_URL:
            object.__setattr__(self, "DATABASE_URL", f"sqlite:///{self.DATA_DIR / 'service.db'}")
        if str(self.NFS_SHARE_ROOT_PATH) in ("", "."):
            object.__setattr__(self, "NFS_SHARE_ROOT_PATH", self.DATA_DIR / "shared")
        object.__setattr__(
            self, "NFS_SHARE_ROOT_PATH", self.NFS_SHARE_ROOT_PATH.expanduser().resolve()
        )
        return self


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()


def describe_error(exc: ValidationError) -> str:
    """One line per bad variable, naming it, for start-up failures."""
    return "; ".join(
        f"invalid setting {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors()
    )


def load_settings_or_exit() -> Settings:
    """Entry-point helper: settings, or one line naming the bad variable and exit code 2."""
    try:
        return get_settings()
    except ValidationError as exc:
        sys.stderr.write(describe_error(exc) + "\n")
        raise SystemExit(2) from None
