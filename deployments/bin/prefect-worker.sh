#!/usr/bin/env bash
# Flow-run host: the service's Prefect process worker (deployments/worker.py) on the
# PREFECT_WORK_POOL pool; it starts `lint-job`, `relint` and `cleanup` flow runs as local
# processes, each forked from a warm fork server with FLOW_RUN_WARM_START (they send their lint
# tasks to the Dask scheduler, over TLS with DASK_TLS_*'s certificate when set: distributed's
# settings reach them by environment). `make up` starts this same script.
. "$(dirname "$0")/_env.sh"
dask_tls
export PREFECT_LOGGING_EXTRA_LOGGERS="${PREFECT_LOGGING_EXTRA_LOGGERS:-flows,linting,db}"
# The worker logs before any flow run exists; those lines go to its log, not to the API.
export PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW="${PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW:-ignore}"
exec python -m deployments.worker
