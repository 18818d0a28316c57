"""How the system is run: the deployment entrypoints, the serve process, the one-host supervisor."""
