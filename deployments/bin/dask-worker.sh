#!/usr/bin/env bash
# Worker host: single-thread Dask workers, one per core, with SQLFluff preloaded (a warm lint
# child each). Needs DASK_SCHEDULER_ADDRESS, the shared dir at NFS_SHARE_ROOT_PATH, DATABASE_URL.
# With DASK_TLS_* set the workers join over TLS with that certificate and listen on tls:// only.
# No dashboard per worker (a random port each): the scheduler's shows them all.
. "$(dirname "$0")/_env.sh"
: "${DASK_SCHEDULER_ADDRESS:?set DASK_SCHEDULER_ADDRESS, e.g. tcp://scheduler:8786}"
dask_tls
exec dask worker "$DASK_SCHEDULER_ADDRESS" \
  ${DASK_TLS_ARGS[@]+"${DASK_TLS_ARGS[@]}"} \
  --nworkers "${DASK_WORKERS_PER_HOST:-$(nproc)}" --nthreads 1 --no-dashboard \
  --preload flows.worker_preload --preload-nanny deployments.dask_logging \
  ${DASK_WORKER_HOST:+--host "$DASK_WORKER_HOST"} \
  --name "${DASK_WORKER_NAME:-$(hostname)}"
