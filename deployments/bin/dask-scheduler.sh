#!/usr/bin/env bash
# Scheduler host: the Dask scheduler every worker host and flow run connects to.
. "$(dirname "$0")/_env.sh"
exec dask scheduler --host "${DASK_SCHEDULER_HOST:-0.0.0.0}" --port "${DASK_SCHEDULER_PORT:-8786}" \
  --dashboard-address "${DASK_DASHBOARD_ADDRESS:-:8787}"
