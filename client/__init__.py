"""Command-line client of the service (`sqlfluff-service submit …`)."""
