"""Per-job options on real files, through the code a Dask worker runs (`lint_file`), against
the SQLFluff CLI with the same config: config layers in a ZIP's folders, the job's config text,
rules, exclude_rules, templater; and fixes against `sqlfluff fix`."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from linting.engine import LintRequest, config_overrides, lint_file, service_overrides
from linting.options import JobOptions, write_job_files
from tests.support.corpus import CORPUS
from tests.support.oracle import SQLFLUFF, cli_fix, cli_job_violations, cli_tree_violations

MAX_BYTES = 1_048_576
JOB_CONFIG = (
    "[sqlfluff]\nmax_line_length = 60\n"
    "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = lower\n"
)
POSTGRES = sorted((CORPUS / "mixed/postgres/ory-kratos").glob("*.sql"))[:6]


def make_job_tree(root: Path, job_id: str, config_text: str | None) -> tuple[Path, list[Path]]:
    """A job's folder as the flow leaves it: config layers, and an expanded archive with its own
    `.sqlfluff` files (a postgres folder, a folder excluding LT05) beside plain ANSI files."""
    write_job_files(root, job_id, "ansi", config_text)
    extracted = root / f"jobs/{job_id}/extracted"
    files: list[Path] = []
    for name in ("q01.sql", "q02.sql", "q07.sql"):
        files.append(extracted / name)
    for name in ("q03.sql", "q09.sql"):
        files.append(extracted / "quiet" / name)
    for target in files:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / "tpch" / target.name, target)
    (extracted / "quiet/.sqlfluff").write_text("[sqlfluff]\nexclude_rules = LT05,LT02\n")
    pg = extracted / "pg"
    pg.mkdir()
    (pg / ".sqlfluff").write_text("[sqlfluff]\ndialect = postgres\n")
    for source in POSTGRES:
        shutil.copyfile(source, pg / source.name)
        files.append(pg / source.name)
    return extracted, files


def lint_all(
    root: Path, job_id: str, files: list[Path], options: JobOptions, fix: bool = False
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, source in enumerate(files):
        result = root / f"jobs/{job_id}/results/t{i}.json"
        outcome = lint_file(
            LintRequest(
                source=str(source),
                display_name=source.name,
                result=str(result),
                overrides={**service_overrides(MAX_BYTES), **options.overrides()},
                max_bytes=MAX_BYTES,
                extra_config=str(root / f"jobs/{job_id}/job.sqlfluff")
                if options.has_config
                else None,
                fix_dir=str(root / f"jobs/{job_id}/fixes") if fix else None,
            )
        )
        assert outcome.ok, (source, outcome.error)
        [record] = json.loads(result.read_text())
        assert outcome.violation_count == len(record["violations"])
        out[str(source.resolve())] = {"record": record, "outcome": outcome, "stem": f"t{i}"}
    return out


CASES = {
    "config-only": ({}, JOB_CONFIG),
    "rules-and-templater": (
        {"rules": ["LT01", "LT05", "CP01", "AL01", "AM04"], "templater": "raw"},
        JOB_CONFIG,
    ),
    "dialect-beats-folder-config": ({"dialect": "ansi", "exclude_rules": ["LT09"]}, None),
    "rule-globs": (
        {"rules": ["LT0*", "CP*", "aliasing.*"], "exclude_rules": ["LT0[5]"]},
        "[sqlfluff]\nexclude_rules = CP0?\n",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_options_and_config_layers_equal_the_cli(
    shared_root: Path, tmp_path: Path, case: str
) -> None:
    raw, config_text = CASES[case]
    options = JobOptions(
        dialect=raw.get("dialect"),
        templater=raw.get("templater"),
        rules=tuple(raw.get("rules", ())),
        exclude_rules=tuple(raw.get("exclude_rules", ())),
        has_config=config_text is not None,
    )
    _, files = make_job_tree(shared_root, "job-x", config_text)
    ours = lint_all(shared_root, "job-x", files, options)
    expected = cli_job_violations(files, raw, config_text, MAX_BYTES, tmp_path / "oracle")
    for path, got in ours.items():
        assert got["record"]["violations"] == expected[path], path
    effective = {
        Path(p).parent.name + "/" + Path(p).name: g["outcome"].effective_config
        for p, g in ours.items()
    }
    pg_file = f"pg/{POSTGRES[0].name}"
    if "dialect" in raw:
        assert effective[pg_file]["dialect"] == "ansi"  # the option beats the folder's config
    else:
        assert effective[pg_file]["dialect"] == "postgres"
    assert effective["extracted/q01.sql"]["dialect"] == "ansi"
    if "exclude_rules" not in raw:
        assert effective["quiet/q03.sql"]["exclude_rules"] == "LT05,LT02"
    # The layers change violations: otherwise this test could not tell them apart.
    codes = {v["code"] for g in ours.values() for v in g["record"]["violations"]}
    assert codes, "no violations at all: the comparison proves nothing"


def test_fixed_files_equal_sqlfluff_fix(shared_root: Path, tmp_path: Path) -> None:
    options = JobOptions(exclude_rules=("LT05",), has_config=True, fix=True)
    extracted, files = make_job_tree(shared_root, "job-f", JOB_CONFIG)
    for extra in (
        "nasty/09-tsql-create-external-tables.crlf.sql",
        "nasty/08-bigquery-baseline_clients_yearly_v1.jinja.sql",
    ):
        (extracted / "odd").mkdir(exist_ok=True)
        shutil.copyfile(CORPUS / extra, extracted / "odd" / Path(extra).name)
        files.append(extracted / "odd" / Path(extra).name)
    (extracted / "odd/.sqlfluff").write_text("[sqlfluff]\ndialect = tsql\n")
    # The jinja file is BigQuery: give it its own folder and dialect.
    (extracted / "bq").mkdir()
    jinja = extracted / "odd/08-bigquery-baseline_clients_yearly_v1.jinja.sql"
    jinja.rename(extracted / "bq" / jinja.name)
    files[files.index(jinja)] = extracted / "bq" / jinja.name
    (extracted / "bq/.sqlfluff").write_text("[sqlfluff]\ndialect = bigquery\n")

    ours = lint_all(shared_root, "job-f", files, options, fix=True)
    # The CLI fixes a copy of the same tree in place.
    copy_root = tmp_path / "copy"
    shutil.copytree(
        shared_root / "jobs/job-f",
        copy_root / "jobs/job-f",
        ignore=shutil.ignore_patterns("results", "fixes"),
    )
    copies = [copy_root / p.relative_to(shared_root) for p in files]
    cli_fix(copies, {"exclude_rules": ["LT05"]}, JOB_CONFIG, MAX_BYTES, tmp_path / "oracle")
    changed = 0
    for source, copy in zip(files, copies, strict=True):
        stem = ours[str(source.resolve())]["stem"]
        fixed = (shared_root / f"jobs/job-f/fixes/{stem}.sql").read_bytes()
        assert fixed == copy.read_bytes(), source
        diff = (shared_root / f"jobs/job-f/fixes/{stem}.diff").read_text()
        if fixed != source.read_bytes():
            changed += 1
            assert diff.startswith(f"--- a/{source.name}\n+++ b/{source.name}\n"), diff[:200]
        else:
            assert diff == ""
    assert changed >= 5, "too few files changed by the fixer to show anything"


def test_each_folder_config_is_built_once_and_inline_lines_stay_in_their_file(
    shared_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlfluff.core import FluffConfig

    from linting import engine

    extracted, files = make_job_tree(shared_root, "job-once", None)
    # A file's own `-- sqlfluff:` line changes its config only, not its neighbours' in the folder.
    inline = extracted / "quiet" / "a_inline.sql"
    inline.write_text("-- sqlfluff:exclude_rules:CP01\nSELECT A from T\n")
    after = extracted / "quiet" / "b_after.sql"
    after.write_text("SELECT A from T\n")
    files += [inline, after]
    built: list[str] = []
    real_init = FluffConfig.__init__

    def counting_init(self: FluffConfig, *args: Any, **kwargs: Any) -> None:
        built.append("config")
        real_init(self, *args, **kwargs)

    engine._linter.cache_clear()
    engine._base_config.cache_clear()
    engine._folder_config.cache_clear()
    monkeypatch.setattr(FluffConfig, "__init__", counting_init)
    ours = lint_all(shared_root, "job-once", files, JobOptions())
    monkeypatch.undo()

    folders = {f.parent for f in files}
    # The Linter's root config, the one folders' configs are made from, one per folder: not
    # one per file (SQLFluff's own way).
    assert len(built) == 2 + len(folders) < len(files), built
    expected = cli_job_violations(files, {}, None, MAX_BYTES, tmp_path / "oracle")
    for path, got in ours.items():
        assert got["record"]["violations"] == expected[path], path
    codes = {str(p): {v["code"] for v in g["record"]["violations"]} for p, g in ours.items()}
    assert "CP01" not in codes[str(inline.resolve())]
    assert "CP01" in codes[str(after.resolve())]


# Root-only settings: SQLFluff takes the templater (and `sqlfluff fix` its
# `fix_even_unparsable`) from the config where the CLI runs, never from a folder's.
TEMPLATED = "select {{ x }}, {y} from t where c = :p\n"
TOP_TEMPLATERS = {
    "raw": "templater = raw\n",
    "python": "templater = python\n[sqlfluff:templater:python:context]\ny = 1\n",
    "placeholder": "templater = placeholder\n"
    "[sqlfluff:templater:placeholder]\nparam_style = colon\n",
}
TOML_TEMPLATER = {
    "raw": '[tool.sqlfluff.core]\ntemplater = "raw"\n',
    "python": '[tool.sqlfluff.core]\ntemplater = "python"\n'
    "[tool.sqlfluff.templater.python.context]\ny = 1\n",
    "placeholder": '[tool.sqlfluff.core]\ntemplater = "placeholder"\n'
    '[tool.sqlfluff.templater.placeholder]\nparam_style = "colon"\n',
}


def tree_outcomes(tree: Path, files: list[Path], **more: Any) -> dict[str, list[dict[str, Any]]]:
    """Each file linted as a job's (the archive's top is `tree`), its violations by path."""
    out = {}
    for i, source in enumerate(files):
        result = tree.parent / f"results/t{i}.json"
        outcome = lint_file(
            LintRequest(
                str(source),
                source.name,
                str(result),
                config_overrides("ansi", MAX_BYTES),
                MAX_BYTES,
                top=str(tree),
                **more,
            )
        )
        assert outcome.ok, outcome.error
        out[str(source.resolve())] = json.loads(result.read_text())[0]["violations"]
    return out


@pytest.mark.parametrize("config", [".sqlfluff", "setup.cfg", "pyproject.toml"])
@pytest.mark.parametrize("templater", list(TOP_TEMPLATERS))
def test_the_templater_of_the_archives_top_config_is_used_as_by_the_cli_run_there(
    tmp_path: Path, config: str, templater: str
) -> None:
    tree = tmp_path / "extracted"
    (tree / "sub").mkdir(parents=True)
    text = (
        TOML_TEMPLATER[templater]
        if config == "pyproject.toml"
        else f"[sqlfluff]\n{TOP_TEMPLATERS[templater]}"
    )
    (tree / config).write_text(text)
    files = [tree / "a.sql", tree / "sub/b.sql"]
    for f in files:
        f.write_text(TEMPLATED)
    ours = tree_outcomes(tree, files)
    expected = cli_tree_violations(tree, ["--dialect", "ansi"])
    assert ours == expected
    # Not jinja's reading: `{{ x }}` is no undefined variable under these templaters.
    assert all("TMP" not in {v["code"] for v in vs} for vs in ours.values()), ours


@pytest.mark.parametrize("templater", list(TOP_TEMPLATERS))
def test_the_templater_of_the_jobs_config_is_used_as_with_config(
    tmp_path: Path, templater: str
) -> None:
    tree = tmp_path / "extracted"
    tree.mkdir()
    job_config = tmp_path / "job.sqlfluff"
    job_config.write_text(f"[sqlfluff]\n{TOP_TEMPLATERS[templater]}")
    source = tree / "a.sql"
    source.write_text(TEMPLATED)
    ours = tree_outcomes(tree, [source], extra_config=str(job_config))
    expected = cli_job_violations(
        [source], {"dialect": "ansi"}, job_config.read_text(), MAX_BYTES, tmp_path / "oracle"
    )
    assert ours == expected


@pytest.mark.parametrize("top, sub", [(True, False), (False, True)])
def test_fix_even_unparsable_is_read_from_the_top_config_only(
    tmp_path: Path, top: bool, sub: bool
) -> None:
    tree = tmp_path / "extracted"
    (tree / "sub").mkdir(parents=True)
    (tree / ".sqlfluff").write_text(f"[sqlfluff]\ndialect = ansi\nfix_even_unparsable = {top}\n")
    (tree / "sub/.sqlfluff").write_text(f"[sqlfluff]\nfix_even_unparsable = {sub}\n")
    source = tree / "sub/c.sql"
    source.write_text("select  a,  b  from t where a = #x\n")
    cli_copy = tmp_path / "cli"
    shutil.copytree(tree, cli_copy)
    subprocess.run(
        [str(SQLFLUFF), "fix", "-f", "."], cwd=cli_copy, capture_output=True, timeout=300
    )
    fixes = tmp_path / "fixes"
    tree_outcomes(tree, [source], fix_dir=str(fixes))
    assert (fixes / "t0.sql").read_text() == (cli_copy / "sub/c.sql").read_text()
    assert ((fixes / "t0.sql").read_text() != source.read_text()) == top
