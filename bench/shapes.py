"""Job shapes of the benchmark that the corpus does not hold as folders: a tree where every
folder has its own `.sqlfluff` (dialect, rules, layout options), and sets of small jobs."""

import itertools
from pathlib import Path

# Dialects of corpus/mixed, each folder's files linted with their own dialect.
MIXED_DIALECTS = ["postgres", "mysql", "tsql", "bigquery", "sqlite", "sparksql", "hive"]
SMALL_BYTES = 20_000
CAPITALISATION = ["upper", "lower", "consistent"]


def small_corpus_files(corpus: Path) -> list[tuple[str, Path]]:
    """(dialect, file) of every small file of corpus/mixed, dialects interleaved."""
    per_dialect = [
        [
            (dialect, p)
            for p in sorted((corpus / "mixed" / dialect).rglob("*.sql"))
            if p.is_file() and p.stat().st_size <= SMALL_BYTES
        ]
        for dialect in MIXED_DIALECTS
    ]
    mixed = itertools.chain.from_iterable(itertools.zip_longest(*per_dialect))
    return [item for item in mixed if item is not None]


def folder_config(i: int, dialect: str) -> str:
    """A folder's own config: its dialect, and rules and layout options that differ by folder
    (so no two folders share a config, as in a monorepo of many teams)."""
    lines = [
        "[sqlfluff]",
        f"dialect = {dialect}",
        f"max_line_length = {60 + i % 61}",
    ]
    if i % 3 == 0:
        lines.append("exclude_rules = LT05,AM04")
    elif i % 3 == 1:
        lines.append("rules = core")
    lines += [
        "[sqlfluff:indentation]",
        f"tab_space_size = {2 + 2 * (i % 2)}",
        "[sqlfluff:rules:capitalisation.keywords]",
        f"capitalisation_policy = {CAPITALISATION[i % 3]}",
    ]
    return "\n".join(lines) + "\n"


def folder_config_tree(corpus: Path, folders: int) -> dict[str, bytes]:
    """`folders` folders of one corpus file each, every folder with its own `.sqlfluff`."""
    sources = small_corpus_files(corpus)
    entries: dict[str, bytes] = {}
    for i in range(folders):
        dialect, source = sources[i % len(sources)]
        folder = f"team{i // 100:02}/f{i:05}"
        entries[f"{folder}/.sqlfluff"] = folder_config(i, dialect).encode()
        entries[f"{folder}/{source.name}"] = source.read_bytes()
    return entries


def small_jobs(corpus: Path, jobs: int, files: int) -> list[tuple[str, dict[str, bytes]]]:
    """`jobs` archives of `files` small files each, one dialect per archive, no file in two
    (a file linted twice with one config would be a result-cache hit, not work)."""
    unused: dict[str, list[Path]] = {}
    for dialect, path in small_corpus_files(corpus):
        unused.setdefault(dialect, []).append(path)
    out: list[tuple[str, dict[str, bytes]]] = []
    for _ in range(jobs):
        dialect = max(unused, key=lambda d: len(unused[d]))
        picked, unused[dialect] = unused[dialect][:files], unused[dialect][files:]
        if len(picked) < files:
            raise SystemExit(f"the corpus has too few small files for {jobs} x {files}")
        out.append((dialect, {f"{k:03}_{p.name}": p.read_bytes() for k, p in enumerate(picked)}))
    return out


def write_tree(root: Path, entries: dict[str, bytes]) -> None:
    for name, data in entries.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
