"""The lint job: storage layout, safe archive expansion, the SQLFluff wrapper, the Prefect flow."""
