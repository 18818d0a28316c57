"""The python templater's fields: plain names pass, anything that walks objects is refused."""

import pytest

from linting.template_policy import TemplateRefused, check_python_template


@pytest.mark.parametrize(
    "text",
    [
        "select a from {tbl}",
        "select {a}, {b!r}, {c:>10}, {d.e.f}, {g:{width}}",  # dot notation: one context key
        "select '{{literal braces}}' from t",
        "select 1",
        "select a from t where b = '}'",  # not a format string: SQLFluff reports it
        "select {a} from {",
        "{0.__class__} {a.__class__ }",  # SQLFluff looks both up as keys of `sqlfluff`
    ],
)
def test_plain_fields_and_broken_templates_pass(text: str) -> None:
    check_python_template(text, "q.sql")


@pytest.mark.parametrize(
    "text",
    [
        "{x[:].__init__.__globals__}",
        "{x[!].__class__}",
        "{x[0]}",
        "{}",
        "{a:{b[:].__init__}}",
        "select {ok} {x[:].y} {",  # the field before the fault is evaluated by str.format
    ],
)
def test_fields_that_reach_objects_are_refused(text: str) -> None:
    with pytest.raises(TemplateRefused, match="q.sql: the python templater may only use plain"):
        check_python_template(text, "q.sql")


@pytest.mark.parametrize(
    "text",
    [
        "{d.e:{x.__class__}}",  # SQLFluff's rewrite takes the outer field only
        "{d.__init__.__globals__!s: <5000}",  # a space in the spec: no rewrite at all
        "{d.__init__.__globals__: }",
    ],
)
def test_dotted_fields_sqlfluff_leaves_as_attributes_are_refused(text: str) -> None:
    with pytest.raises(TemplateRefused):
        check_python_template(text, "q.sql")
