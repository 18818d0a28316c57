"""CSV: one row per violation, with no cell a spreadsheet would run as a formula."""

import csv
import io

from api.reports.common import JobReportData

CSV_COLUMNS = (
    "file_name",
    "start_line",
    "start_pos",
    "end_line",
    "end_pos",
    "rule_code",
    "rule_name",
    "severity",
    "description",
)
# File names and descriptions come from the submitter. Excel, LibreOffice and Sheets evaluate a
# cell that starts with one of these, so such a cell is prefixed with a quote (OWASP's advice).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str | int) -> str | int:
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def to_csv(data: JobReportData) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for v in data.violations:
        row: list[str | int] = [
            v.file_name,
            v.start_line,
            v.start_pos,
            v.end_line if v.end_line is not None else "",
            v.end_pos if v.end_pos is not None else "",
            v.rule_code,
            v.rule_name,
            v.severity.value,
            v.description,
        ]
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()
