#!/usr/bin/env bash
# Prefect server host: the Prefect API and UI on PREFECT_SERVER_HOST:PREFECT_SERVER_PORT, its state
# in PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL=postgresql+asyncpg://user:pw@host:5432/db;
# the database must exist). Prefect migrates its own schema at start. `make up`, one host for one
# user, runs this same script on SQLite (PREFECT_SERVER_ALLOW_SQLITE=true); production must not.
. "$(dirname "$0")/_env.sh"
: "${PREFECT_API_DATABASE_CONNECTION_URL:?set PREFECT_API_DATABASE_CONNECTION_URL, e.g. postgresql+asyncpg://prefect:pw@pg.internal:5432/prefect}"
case "${PREFECT_SERVER_ALLOW_SQLITE:-}:$PREFECT_API_DATABASE_CONNECTION_URL" in
  *:postgresql+asyncpg://* | true:sqlite+aiosqlite://*) ;;
  *)
    echo "invalid setting PREFECT_API_DATABASE_CONNECTION_URL: production runs Prefect on" \
      "PostgreSQL (postgresql+asyncpg://...), not SQLite (docs/deployment.md)" >&2
    exit 2
    ;;
esac
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
exec prefect server start --host "${PREFECT_SERVER_HOST:-0.0.0.0}" --port "${PREFECT_SERVER_PORT:-4200}"
