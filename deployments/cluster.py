"""A long-lived Dask LocalCluster for one host; flow runs connect to it by address.

A LocalCluster per flow run costs ~2 s, a connection to a running one ~0.02 s (measured on a
2-core machine). Prints `DASK_SCHEDULER_ADDRESS=tcp://...` once ready; stops on SIGINT/SIGTERM.
"""

import signal
import sys
import threading

from distributed import LocalCluster

from core.settings import load_settings_or_exit


def main() -> None:
    settings = load_settings_or_exit()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with LocalCluster(
        n_workers=settings.DASK_N_WORKERS,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=settings.DASK_SCHEDULER_PORT,
        dashboard_address=None,
        # No HTTP server per worker: its /health on a random port could answer for another's.
        worker_dashboard_address=None,
        preload=["flows.worker_preload"],
    ) as cluster:
        sys.stdout.write(f"DASK_SCHEDULER_ADDRESS={cluster.scheduler_address}\n")
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    main()
