"""Domain errors of the service. The message of each is the user-facing `detail`.

    LintServiceError
      BadInput          -> 400: UnsafePath, NotAZip, UnknownDialect, BadConfig
        BadArchive      -> job FAILED (raised in the flow): corrupt, too large, too many entries
      SourceMissing     -> 404

A file that cannot be linted is never an exception across a task boundary: it becomes a
FAILURE row with its reason (`linting.engine.FileOutcome`).
"""


class LintServiceError(Exception):
    """Base of the service's own errors."""


class BadInput(LintServiceError):
    """The request cannot be served as given (HTTP 400)."""


class UnsafePath(BadInput):
    """A client path that escapes the shared root or is not a plain relative path."""


class NotAZip(BadInput):
    """`zip_file_path` names a file that is not a ZIP archive."""


class UnknownDialect(BadInput):
    """A dialect SQLFluff does not know."""


class BadArchive(BadInput):
    """An archive that cannot be expanded safely: corrupt, a zip bomb, too many entries."""


class SourceMissing(LintServiceError):
    """A path under the shared root that does not exist (HTTP 404)."""


class BadConfig(BadInput):
    """Lint options or a `.sqlfluff` text SQLFluff would reject, or that would load code."""
