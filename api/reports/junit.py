"""JUnit XML: one testcase per file; a failure lists its violations, an error says why the file
could not be linted."""

import re
import xml.etree.ElementTree as ET

from api.reports.common import JobReportData
from db.models import TaskStatus

# Characters XML 1.0 cannot carry even as references (§2.2 Char): C0 controls other than tab,
# LF and CR, lone surrogates, U+FFFE and U+FFFF. ElementTree writes them as they are, and every
# parser then rejects the whole report, so they are dropped.
_NOT_XML_CHAR = re.compile(r"[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


def xml_safe(text: str) -> str:
    return _NOT_XML_CHAR.sub("", text)


def junit(data: JobReportData) -> str:
    """The report as an XML document that parses, whatever the file names and messages hold."""
    violations = data.by_task()
    failures = sum(1 for t in data.tasks if violations.get(t.task_id))
    errors = sum(1 for t in data.tasks if t.status != TaskStatus.SUCCESS)
    suites = ET.Element(
        "testsuites",
        name="sqlfluff-service",
        tests=str(len(data.tasks)),
        failures=str(failures),
        errors=str(errors),
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=data.job.job_id,
        tests=str(len(data.tasks)),
        failures=str(failures),
        errors=str(errors),
        timestamp=data.job.created_at.isoformat(timespec="seconds"),
    )
    for task in data.tasks:
        case = ET.SubElement(suite, "testcase", classname="sqlfluff", name=task.file_name)
        found = violations.get(task.task_id, [])
        if task.status != TaskStatus.SUCCESS:
            reason = task.error_message or task.status.value
            error = ET.SubElement(case, "error", message=reason, type="lint-error")
            error.text = reason
        elif found:
            failure = ET.SubElement(
                case, "failure", message=f"{len(found)} violation(s)", type="sqlfluff"
            )
            failure.text = "\n".join(
                f"{task.file_name}:{v.start_line}:{v.start_pos}: {v.rule_code} "
                f"[{v.severity.value}] {v.description}"
                for v in found
            )
    # One pass over the finished tree, so no text or attribute added above can miss it.
    for element in suites.iter():
        if element.text:
            element.text = xml_safe(element.text)
        element.attrib = {key: xml_safe(value) for key, value in element.attrib.items()}
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
