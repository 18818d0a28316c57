"""The HTTP front door: FastAPI app, routes, trigger of the `lint-job` deployment, reconciler."""
