#!/usr/bin/env bash
# API host: gunicorn managing API_WORKERS uvicorn workers on API_HOST:API_PORT.
. "$(dirname "$0")/_env.sh"
# Prometheus multiprocess mode: each worker writes its HTTP metrics into this folder and a scrape,
# whichever worker answers, sums them. Emptied at every start (counts of dead processes would
# otherwise be summed in again); systemd's RuntimeDirectory gives a private one.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${RUNTIME_DIRECTORY:-/tmp/sqlfluff-api-$(id -u)}/metrics}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
exec gunicorn 'api.main:create_app()' \
  --config python:deployments.gunicorn_conf \
  --worker-class uvicorn_worker.UvicornWorker \
  --workers "${API_WORKERS:-2}" \
  --bind "${API_HOST:-0.0.0.0}:${API_PORT:-8000}" \
  --graceful-timeout 30 --access-logfile -
