"""How the system is run: the deployment entrypoints, the Prefect worker, the one-host
supervisor."""
