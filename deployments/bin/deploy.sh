#!/usr/bin/env bash
# Once per release (and after changing RELINT_CRON or CLEANUP_CRON), from any host with the
# service's environment: register the deployments of deployments/prefect.yaml on the Prefect
# server, every {{ $VAR }} filled from the settings (python -m deployments.deploy).
. "$(dirname "$0")/_env.sh"
exec python -m deployments.deploy
