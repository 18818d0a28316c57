"""The lint job: storage layout, safe archive expansion, the SQLFluff wrapper and the Prefect flow."""
