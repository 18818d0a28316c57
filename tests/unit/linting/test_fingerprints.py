"""Fingerprints survive line shifts and tell equal findings apart (linting/fingerprints.py)."""

from linting.fingerprints import decode_source, fingerprints

SQL = "select a,b\nfrom t\nwhere x=1\n"


def _v(code: str, line: int, pos: int, end_pos: int | None = None) -> dict[str, object]:
    return {
        "code": code,
        "start_line_no": line,
        "start_line_pos": pos,
        "end_line_no": line,
        "end_line_pos": end_pos,
    }


def test_a_line_shift_keeps_the_fingerprint_and_an_edit_changes_it() -> None:
    before = fingerprints("q.sql", decode_source(SQL.encode()), [_v("LT01", 3, 8, 9)])
    shifted = "-- a new header\n\n" + SQL
    after = fingerprints("q.sql", decode_source(shifted.encode()), [_v("LT01", 5, 8, 9)])
    assert before == after
    edited = SQL.replace("x=1", "x=2")
    assert fingerprints("q.sql", decode_source(edited.encode()), [_v("LT01", 3, 8, 9)]) != before
    assert fingerprints("r.sql", decode_source(SQL.encode()), [_v("LT01", 3, 8, 9)]) != before
    assert fingerprints("q.sql", decode_source(SQL.encode()), [_v("CP01", 3, 8, 9)]) != before


def test_equal_findings_get_distinct_fingerprints_and_crlf_or_bytes_do_not_matter() -> None:
    twice = "select 1\nselect 1\n"
    prints = fingerprints(
        "q.sql", decode_source(twice.encode()), [_v("LT12", 1, 1), _v("LT12", 2, 1)]
    )
    assert len(set(prints)) == 2
    crlf = fingerprints(
        "q.sql", decode_source(twice.replace("\n", "\r\n").encode()), [_v("LT12", 1, 1)]
    )
    assert crlf[0] == prints[0]
    gbk = "select '中文'\n".encode("gbk")
    assert fingerprints("q.sql", decode_source(gbk), [_v("LT01", 1, 1)]) == fingerprints(
        "q.sql", decode_source(gbk), [_v("LT01", 1, 1)]
    )
    # A violation SQLFluff places nowhere (line 0) still gets a stable print.
    assert fingerprints("q.sql", [], [_v("PRS", 0, 0)]) == fingerprints(
        "q.sql", [], [_v("PRS", 0, 0)]
    )
