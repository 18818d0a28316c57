"""What a submitted python-templater template may say (docs/security.md).

SQLFluff's python templater renders a file with `str.format`, and a format field walks
attributes and items (`{x.__init__.__globals__}`). SQLFluff first rewrites a dotted field into a
key of its `sqlfluff` context mapping (`{a.b}` -> `{sqlfluff[a.b]}`), but its pattern skips a
field with `:` or `!` before the dot (`{x[:].__init__...}`), with a space in its format spec, or
nested in another's spec; and with `ignore = templating` a missing name is an object of
SQLFluff's own code. From there a field reaches any module of the lint process, and what a lint
child still holds of earlier jobs. So the template is judged as SQLFluff will format it, after
that rewrite: every field, nested ones too, must be a plain name or one `sqlfluff[...]` key.
A file with any other field fails before it renders. A template that is not a valid format
string is left to SQLFluff, which reports it: `str.format` evaluates only the fields before the
fault, checked here first.
"""

import re
from string import Formatter

from linting.errors import BadConfig

# SQLFluff 4.5.0's dot-notation rewrite (core/templaters/python.py, `render_func`), verbatim.
_DOT_NOTATION = re.compile(r"{([^:!}]*\.[^:!}]*)(![ars])?(:\S*)?}")
# What a field may be once rewritten: a name, or one key of the `sqlfluff` mapping.
_FIELD = re.compile(r"[A-Za-z_]\w*|sqlfluff\[[^\[\]]*\]")
# Python refuses specs nested deeper than this before it evaluates them.
_MAX_NESTING = 2


class TemplateRefused(BadConfig, ValueError):
    """A python-templater field that would reach past the template's own variables."""


def check_python_template(text: str, where: str) -> None:
    """Refuse any field but `{name}` or `{name.key}` (with `!r`/`!s`/`!a` and a format spec).

    Raises:
        TemplateRefused: naming the field and `where`.
    """
    _check(_DOT_NOTATION.sub(r"{sqlfluff[\1]\2\3}", text), where, 0)


def _check(text: str, where: str, depth: int) -> None:
    try:
        for _, field, spec, _ in Formatter().parse(text):
            if field is None:
                continue
            if not _FIELD.fullmatch(field):
                raise TemplateRefused(
                    f"{where}: the python templater may only use plain variable names in "
                    f"{{...}}, not {{{field[:80]}}}"
                )
            if spec and depth < _MAX_NESTING:
                _check(spec, where, depth + 1)
    except TemplateRefused:
        raise
    except ValueError:
        return  # not a format string: `str.format` fails at the same place
