#!/usr/bin/env bash
# Worker host: single-thread Dask workers, one per core, with SQLFluff preloaded (a warm lint
# child each). Needs DASK_SCHEDULER_ADDRESS, the shared dir at NFS_SHARE_ROOT_PATH, DATABASE_URL.
. "$(dirname "$0")/_env.sh"
: "${DASK_SCHEDULER_ADDRESS:?set DASK_SCHEDULER_ADDRESS, e.g. tcp://scheduler:8786}"
exec dask worker "$DASK_SCHEDULER_ADDRESS" \
  --nworkers "${DASK_WORKERS_PER_HOST:-$(nproc)}" --nthreads 1 \
  --preload flows.worker_preload \
  ${DASK_WORKER_HOST:+--host "$DASK_WORKER_HOST"} \
  --name "${DASK_WORKER_NAME:-$(hostname)}"
