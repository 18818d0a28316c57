"""The config policy against SQLFluff itself: every probe that must be refused is first shown to
reach the place SQLFluff's jinja templater reads it from, then shown refused (docs/security.md)."""

import configparser
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlfluff.core import FluffConfig, Linter
from sqlfluff.core.errors import SQLFluffUserError

from linting.config_policy import (
    ConfigRefused,
    ConfigUnreadable,
    check_config_file,
    check_config_text,
    check_effective_config,
)
from linting.errors import BadConfig

JINJA = ("templater", "jinja")


def sqlfluff_config(folder: Path) -> FluffConfig:
    """The config plain SQLFluff builds for a file in `folder` (every config file on the way)."""
    return FluffConfig.from_path(str(folder), overrides={"dialect": "ansi"}, require_dialect=False)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def refused(fragment: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigRefused) as caught:
        check_config_text(*args, **kwargs)
    assert fragment in str(caught.value)
    return str(caught.value)


# (file name, text, where the jinja templater reads it) — one per spelling SQLFluff accepts.
LIBRARY_PATH_SPELLINGS = {
    "section": (".sqlfluff", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n", JINJA),
    "dotted key": (".sqlfluff", "[sqlfluff:templater]\njinja.library_path = {v}\n", JINJA),
    "core": (".sqlfluff", "[sqlfluff]\nlibrary_path = {v}\n", ("core",)),
    "DEFAULT section": (".sqlfluff", "[DEFAULT]\nlibrary_path = {v}\n[sqlfluff]\n", ("core",)),
    "dotted beats section": (
        ".sqlfluff",
        "[sqlfluff:templater:jinja]\nlibrary_path = /a\n[sqlfluff:templater]\n"
        "jinja.library_path = {v}\n",
        JINJA,
    ),
    "setup.cfg": ("setup.cfg", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n", JINJA),
    "tox.ini": ("tox.ini", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n", JINJA),
    "pep8.ini": ("pep8.ini", "[sqlfluff:templater:jinja]\nlibrary_path = {v}\n", JINJA),
    "toml table": (
        "pyproject.toml",
        '[tool.sqlfluff.templater.jinja]\nlibrary_path = "{v}"\n',
        JINJA,
    ),
    "toml quoted key": (
        "pyproject.toml",
        '[tool.sqlfluff.templater.jinja]\n"library_path" = "{v}"\n',
        JINJA,
    ),
    "toml escaped key": (
        "pyproject.toml",
        '[tool.sqlfluff.templater.jinja]\n"library\\u005fpath" = "{v}"\n',
        JINJA,
    ),
    "toml dotted key": (
        "pyproject.toml",
        '[tool.sqlfluff]\ntemplater.jinja.library_path = "{v}"\n',
        JINJA,
    ),
    "toml inline table": (
        "pyproject.toml",
        '[tool]\nsqlfluff = {{templater = {{jinja = {{library_path = "{v}"}}}}}}\n',
        JINJA,
    ),
}


@pytest.mark.parametrize("spelling", LIBRARY_PATH_SPELLINGS)
def test_library_path_in_every_spelling_sqlfluff_reads_is_refused(
    tmp_path: Path, spelling: str
) -> None:
    name, template, section = LIBRARY_PATH_SPELLINGS[spelling]
    lib = tmp_path / "job" / "lib"
    lib.mkdir(parents=True)
    text = template.format(v=lib)
    config = write(tmp_path / "job", name, text)
    # Real: the value is where `JinjaTemplater._extract_libraries_from_config` looks.
    assert sqlfluff_config(tmp_path / "job").get("library_path", section=section) == str(lib)
    message = refused("imports Python code; not allowed", text, "'config'", filename=name)
    assert message.startswith("'config' sets ") and "library_path" in message
    # Inside the job's own files too: importing code is never a lint setting.
    with pytest.raises(ConfigRefused, match="library_path, which imports Python code"):
        check_config_file(config, tmp_path / "job")


def test_library_path_really_imports_code(tmp_path: Path) -> None:
    # The end of the probe: SQLFluff imports the module and the SQL can call into it.
    module = f"policy_probe_{uuid.uuid4().hex}"
    write(tmp_path / "lib", f"{module}.py", "ANSWER = 42\n")
    text = f"[sqlfluff:templater]\njinja.library_path = {tmp_path / 'lib'}\n"
    sql = write(tmp_path / "job", "q.sql", f"select {{{{ {module}.ANSWER }}}}\n")
    write(tmp_path / "job", ".sqlfluff", text)
    config = sqlfluff_config(tmp_path / "job")
    try:
        rendered = Linter(config=config).render_file(str(sql), config)
    finally:
        sys.modules.pop(module, None)
    assert rendered.templated_variants[0].templated_str == "select 42\n"
    refused("jinja:library_path", text, "'config'")


@pytest.mark.parametrize(
    ("text", "where_sqlfluff_keeps_it"),
    [
        ("[sqlfluff:templater:jinja]\nLibrary_Path = /x\n", ("templater", "jinja", "Library_Path")),
        ("[sqlfluff:Templater:JINJA]\nlibrary_path = /x\n", ("Templater", "JINJA", "library_path")),
    ],
)
def test_other_cases_are_kept_unread_by_sqlfluff_and_refused_all_the_same(
    tmp_path: Path, text: str, where_sqlfluff_keeps_it: tuple[str, ...]
) -> None:
    # SQLFluff keeps key case (ini.py overrides optionxform) and the templater reads lower
    # case only, so these import nothing today; the policy refuses them anyway.
    write(tmp_path, ".sqlfluff", text)
    config = sqlfluff_config(tmp_path)
    assert config.get_section(where_sqlfluff_keeps_it) == "/x"
    assert config.get_section((*JINJA, "library_path")) is None
    refused(f"{where_sqlfluff_keeps_it[-1]}, which imports Python code", text, "'config'")


def test_an_upper_case_sqlfluff_section_is_ignored_by_sqlfluff_and_by_the_policy(
    tmp_path: Path,
) -> None:
    text = "[SQLFLUFF:templater:jinja]\nlibrary_path = /x\n"
    write(tmp_path, ".sqlfluff", text)
    assert sqlfluff_config(tmp_path).get_section((*JINJA, "library_path")) is None
    assert check_config_text(text, "'config'") == {}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".sqlfluff", "[sqlfluff:templater:jinja]\nlibrary_path = /a\nlibrary_path = /b\n"),
        (".sqlfluff", "[sqlfluff:templater:jinja]\na = 1\n[sqlfluff:templater:jinja]\nb = 2\n"),
        ("pyproject.toml", '[tool.sqlfluff.core]\ndialect = "ansi"\ndialect = "tsql"\n'),
        (".sqlfluff", "[sqlfluff:templater]\njinja = 1\njinja.library_path = /x\n"),
        (".sqlfluff", "[sqlfluff\n"),
        (".sqlfluff", "[sqlfluff:layout:type:json_path]\nspacing_within = touch\n"),
        ("pyproject.toml", "[tool.sqlfluff\n"),
    ],
    ids=[
        "dup key",
        "dup section",
        "toml dup key",
        "key and section",
        "no header",
        "path section",
        "bad toml",
    ],
)
def test_what_sqlfluff_cannot_load_is_unreadable(tmp_path: Path, name: str, text: str) -> None:
    write(tmp_path / "job", name, text)
    with pytest.raises((configparser.Error, SQLFluffUserError, ValueError, AssertionError)):
        sqlfluff_config(tmp_path / "job")
    with pytest.raises(ConfigUnreadable, match="^SQLFluff cannot load 'config': ") as caught:
        check_config_text(text, "'config'", filename=name)
    assert str(tmp_path) not in str(caught.value) and "/tmp" not in str(caught.value)
    with pytest.raises(ConfigUnreadable) as caught:
        check_config_file(tmp_path / "job" / name, tmp_path / "job")
    assert str(tmp_path) not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (".sqlfluff", "[sqlfluff]\ntemplater = dbt\n"),
        ("pyproject.toml", '[tool.sqlfluff.core]\ntemplater = "dbt"\n'),
        (".sqlfluff", "[sqlfluff]\ntemplater = Jinja\n"),
    ],
)
def test_another_templater_is_refused(tmp_path: Path, name: str, text: str) -> None:
    write(tmp_path, name, text)
    # Real: SQLFluff looks the name up among installed templaters (dbt is a plugin).
    with pytest.raises(SQLFluffUserError, match="Requested templater"):
        sqlfluff_config(tmp_path)
    refused("only raw, jinja, placeholder, python are allowed", text, "'config'", filename=name)


PATH_KEYS = ("loader_search_path", "load_macros_from_path", "exclude_macros_from_path")


@pytest.mark.parametrize("key", PATH_KEYS)
@pytest.mark.parametrize("form", ["section", "dotted"])
def test_a_request_config_may_name_no_path(tmp_path: Path, key: str, form: str) -> None:
    if form == "section":
        text = f"[sqlfluff:templater:jinja]\n{key} = /etc, {tmp_path}\n"
    else:
        text = f"[sqlfluff:templater]\njinja.{key} = /etc, {tmp_path}\n"
    write(tmp_path / "job", ".sqlfluff", text)
    assert sqlfluff_config(tmp_path / "job").get(key, section=JINJA) == f"/etc,{tmp_path}"
    message = refused(f"'config' sets templater:jinja:{key}, which names a path", text, "'config'")
    assert str(tmp_path) not in message


def test_any_path_or_dir_key_sqlfluff_resolves_counts_as_a_path(tmp_path: Path) -> None:
    text = "[sqlfluff:templater:python:context]\nsecret_path = /e*\n"
    write(tmp_path, ".sqlfluff", text)
    # Real: SQLFluff globs it on the host, so its value tells what exists there.
    assert (
        sqlfluff_config(tmp_path).get("secret_path", section=("templater", "python", "context"))
        == "/etc"
    )
    refused("templater:python:context:secret_path, which names a path", text, "'config'")
    refused("core:output_dir, which names a path", "[sqlfluff]\noutput_dir = x\n", "'config'")


def test_jinja_context_values_are_template_variables_not_paths(tmp_path: Path) -> None:
    text = "[sqlfluff:templater:jinja:context]\nsource_path = /e*\n"
    write(tmp_path, ".sqlfluff", text)
    # SQLFluff leaves this section unresolved (OPAQUE_SECTION_KEY_PATH) and never opens it.
    assert sqlfluff_config(tmp_path).get("source_path", section=(*JINJA, "context")) == "/e*"
    assert check_config_text(text, "'config'") == {
        "templater": {"jinja": {"context": {"source_path": "/e*"}}}
    }


@pytest.fixture()
def job(tmp_path: Path) -> Path:
    """A job's extracted files with a macros folder, and a secret beside (not inside) them."""
    write(tmp_path / "job" / "macros", "m.sql", "{% macro one() %}1{% endmacro %}\n")
    write(tmp_path / "job" / "sub", "q.sql", "select {{ one() }}\n")
    write(tmp_path / "secret", "s.sql", "select 'secret'\n")
    return tmp_path / "job"


@pytest.mark.parametrize(
    "value",
    ["../macros", "../macros/m.sql", "../mac*", "../macros, ../macros/m.sql", "", "."],
)
def test_paths_inside_the_job_are_allowed(job: Path, value: str) -> None:
    text = f"[sqlfluff:templater:jinja]\nload_macros_from_path = {value}\n"
    config = write(job / "sub", ".sqlfluff", text)
    check_config_file(config, job)
    resolved = check_config_text(text, "sub/.sqlfluff", job_root=job, config_dir=job / "sub")
    sqlfluff_sees = sqlfluff_config(job / "sub").get("load_macros_from_path", section=JINJA)
    assert resolved["templater"]["jinja"]["load_macros_from_path"] == sqlfluff_sees
    for item in filter(None, resolved["templater"]["jinja"]["load_macros_from_path"].split(",")):
        assert Path(os.path.realpath(item)).is_relative_to(job)


@pytest.mark.parametrize(
    "value",
    [
        "../../secret",
        "../..",
        "/etc",
        "../macros,../../secret",
        "../macros, ../..",
        "../m*/../..",
        "missing",
    ],
)
def test_paths_leaving_the_job_are_refused(job: Path, value: str) -> None:
    text = f"[sqlfluff:templater:jinja]\nloader_search_path = {value}\n"
    config = write(job / "sub", ".sqlfluff", text)
    with pytest.raises(
        ConfigRefused, match="sub/.sqlfluff sets templater:jinja:loader_search_path"
    ):
        check_config_file(config, job)


def test_a_path_that_is_not_a_string_is_refused(job: Path) -> None:
    text = '[tool.sqlfluff.templater.jinja]\nloader_search_path = ["macros"]\n'
    write(job / "toml", "pyproject.toml", text)
    with pytest.raises(AssertionError, match="must be a string"):  # SQLFluff cannot use it
        sqlfluff_config(job / "toml")
    with pytest.raises(ConfigRefused, match="loader_search_path to a list, not a path"):
        check_config_file(job / "toml" / "pyproject.toml", job)


def test_a_symlink_out_of_the_job_is_followed(job: Path, tmp_path: Path) -> None:
    (job / "link").symlink_to(tmp_path / "secret")
    text = "[sqlfluff:templater:jinja]\nloader_search_path = link\n"
    write(job, ".sqlfluff", text)
    with pytest.raises(ConfigRefused, match="outside the job's files"):
        check_config_file(job / ".sqlfluff", job)
    # A link inside the job keeps its own name, which decides how SQLFluff parses it.
    write(job / "data", "notes.cfg", '[tool.sqlfluff.templater.jinja]\nlibrary_path = "x"\n')
    (job / "toml").mkdir()
    (job / "toml" / "pyproject.toml").symlink_to(job / "data" / "notes.cfg")
    assert sqlfluff_config(job / "toml").get("library_path", section=JINJA) == "x"
    with pytest.raises(
        ConfigRefused, match="toml/pyproject.toml sets templater:jinja:library_path"
    ):
        check_config_file(job / "toml" / "pyproject.toml", job)
    (tmp_path / "outside.cfg").write_text("[sqlfluff]\n")
    (job / "setup.cfg").symlink_to(tmp_path / "outside.cfg")
    with pytest.raises(ConfigRefused, match="setup.cfg links outside"):
        check_config_file(job / "setup.cfg", job)


def test_a_search_path_outside_the_job_really_reads_host_files(job: Path) -> None:
    # The end of the probe: with the policy skipped, Jinja includes a file from outside.
    write(
        job / "sub", ".sqlfluff", "[sqlfluff:templater:jinja]\nloader_search_path = ../../secret\n"
    )
    sql = write(job / "sub", "leak.sql", "{% include 's.sql' %}\n")
    config = sqlfluff_config(job / "sub")
    rendered = Linter(config=config).render_file(str(sql), config)
    assert "secret" in rendered.templated_variants[0].templated_str
    with pytest.raises(ConfigRefused):
        check_config_file(job / "sub" / ".sqlfluff", job)


def test_plain_lint_settings_pass_and_come_back_as_sqlfluff_reads_them() -> None:
    text = (
        "[sqlfluff]\ndialect = ansi\ntemplater = jinja\nmax_line_length = 120\n"
        "[sqlfluff:indentation]\ntab_space_size = 2\n"
        "[sqlfluff:layout:type:comma]\nline_position = leading\n"
        "[sqlfluff:rules:capitalisation.keywords]\ncapitalisation_policy = upper\n"
        "[sqlfluff:templater:jinja]\napply_dbt_builtins = True\n"
        "[sqlfluff:templater:jinja:macros]\na = {% macro a() %}1{% endmacro %}\n"
    )
    got = check_config_text(text, "'config'")
    assert got["core"] == {"dialect": "ansi", "templater": "jinja", "max_line_length": 120}
    assert got["rules"]["capitalisation.keywords"] == {"capitalisation_policy": "upper"}
    assert got["templater"]["jinja"]["apply_dbt_builtins"] is True
    toml = '[tool.sqlfluff.core]\ndialect = "ansi"\ntemplater = "placeholder"\n'
    assert (
        check_config_text(toml, "'config'", filename="pyproject.toml")["core"]["templater"]
        == "placeholder"
    )


def test_refusals_are_config_errors_the_api_answers_with_400() -> None:
    assert issubclass(ConfigUnreadable, ConfigRefused)
    assert issubclass(ConfigRefused, BadConfig) and issubclass(ConfigRefused, ValueError)


def test_effective_config_of_allowed_layers_passes(job: Path) -> None:
    write(job, ".sqlfluff", "[sqlfluff:templater:jinja]\nload_macros_from_path = macros\n")
    check_config_file(job / ".sqlfluff", job)
    config = sqlfluff_config(job / "sub")
    check_effective_config(config, job)
    # And the allowed macros folder works: the file renders with its macro.
    rendered = Linter(config=config).render_file(str(job / "sub" / "q.sql"), config)
    assert rendered.templated_variants[0].templated_str == "select 1\n"
    check_effective_config(FluffConfig(overrides={"dialect": "ansi"}), None)


def test_effective_config_refuses_what_a_child_layer_adds(job: Path) -> None:
    write(job, ".sqlfluff", "[sqlfluff:templater:jinja]\nload_macros_from_path = macros\n")
    write(
        job / "sub", ".sqlfluff", "[sqlfluff:templater:jinja]\nloader_search_path = ../../secret\n"
    )
    config = sqlfluff_config(job / "sub")
    assert config.get("load_macros_from_path", section=JINJA) == str(job / "macros")
    with pytest.raises(ConfigRefused, match="templater:jinja:loader_search_path to a path outside"):
        check_effective_config(config, job)
    # Another folder: SQLFluff caches each folder's config files for the process's life.
    write(job / "other", ".sqlfluff", "[sqlfluff:templater]\njinja.library_path = ../macros\n")
    with pytest.raises(ConfigRefused, match="library_path, which imports Python code"):
        check_effective_config(sqlfluff_config(job / "other"), job)


def test_effective_config_sees_inline_lines_of_the_sql_file(
    job: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No config file at all: the SQL file sets the key itself, and SQLFluff obeys it.
    sql = write(
        job / "sub", "inline.sql", "-- sqlfluff:templater:jinja:library_path:/usr\nselect 1\n"
    )
    _, config, _ = Linter.load_raw_file_and_config(str(sql), sqlfluff_config(job / "sub"))
    assert config.get("library_path", section=JINJA) == "/usr"
    with pytest.raises(ConfigRefused, match="library_path"):
        check_effective_config(config, job)
    # Inline paths are not resolved: the templater opens them from the working folder.
    sql.write_text("-- sqlfluff:templater:jinja:loader_search_path:macros\nselect 1\n")
    monkeypatch.chdir(job)
    _, config, _ = Linter.load_raw_file_and_config(str(sql), sqlfluff_config(job / "sub"))
    check_effective_config(config, job)
    monkeypatch.chdir(job.parent)
    with pytest.raises(ConfigRefused, match="outside the job's files"):
        check_effective_config(config, job)
    with pytest.raises(ConfigRefused, match="names a path"):
        check_effective_config(config, None)
