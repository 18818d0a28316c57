#!/usr/bin/env bash
# API host: gunicorn managing API_WORKERS uvicorn workers on API_HOST:API_PORT.
. "$(dirname "$0")/_env.sh"
exec gunicorn 'api.main:create_app()' \
  --worker-class uvicorn_worker.UvicornWorker \
  --workers "${API_WORKERS:-2}" \
  --bind "${API_HOST:-0.0.0.0}:${API_PORT:-8000}" \
  --graceful-timeout 30 --access-logfile -
