#!/usr/bin/env bash
# Database host, once per release: bring DATABASE_URL's schema to the current migration.
. "$(dirname "$0")/_env.sh"
exec alembic upgrade head
