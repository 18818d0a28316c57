#!/usr/bin/env bash
# Scheduler host: the Dask scheduler every worker host and flow run connects to. With DASK_TLS_*
# set it listens on tls:// and accepts only peers holding a certificate of DASK_TLS_CA_FILE.
. "$(dirname "$0")/_env.sh"
dask_tls
exec dask scheduler --preload deployments.dask_logging --host "${DASK_SCHEDULER_HOST:-0.0.0.0}" --port "${DASK_SCHEDULER_PORT:-8786}" \
  ${DASK_TLS_ARGS[@]+--protocol tls "${DASK_TLS_ARGS[@]}"} \
  --dashboard-address "${DASK_DASHBOARD_ADDRESS:-:8787}"
