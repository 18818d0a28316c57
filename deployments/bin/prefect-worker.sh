#!/usr/bin/env bash
# Flow-run host: a Prefect process worker on the PREFECT_WORK_POOL pool; it starts `lint-job`,
# `relint` and `cleanup` flow runs as local processes (they send their lint tasks to the Dask
# scheduler, over TLS with DASK_TLS_*'s certificate when set: distributed's settings reach them
# by environment).
. "$(dirname "$0")/_env.sh"
dask_tls
export PREFECT_LOGGING_EXTRA_LOGGERS="${PREFECT_LOGGING_EXTRA_LOGGERS:-flows,linting,db}"
exec prefect worker start --pool "${PREFECT_WORK_POOL:-sqlfluff}" --type process \
  --limit "${FLOW_RUN_LIMIT:-8}"
