"""A job's violations rendered as SARIF 2.1.0, JUnit XML, CSV or a standalone HTML page: one module
per format, each a pure function of the rows. Positions are SQLFluff's: 1-based lines, columns."""

from collections.abc import Callable

from api.reports.common import EXTENSIONS, MEDIA_TYPES, JobReportData, rule_catalogue
from api.reports.csv_report import to_csv
from api.reports.html_report import to_html
from api.reports.junit import junit
from api.reports.sarif import sarif

RENDERERS: dict[str, Callable[[JobReportData], str]] = {
    "sarif": sarif,
    "junit": junit,
    "csv": to_csv,
    "html": to_html,
}


def render(fmt: str, data: JobReportData) -> str:
    return RENDERERS[fmt](data)


__all__ = [
    "EXTENSIONS",
    "MEDIA_TYPES",
    "RENDERERS",
    "JobReportData",
    "render",
    "rule_catalogue",
    "sarif",
    "junit",
    "to_csv",
    "to_html",
]
