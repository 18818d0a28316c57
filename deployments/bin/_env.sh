# Sourced by the start scripts: the service's environment and its virtualenv.
# SQLFLUFF_SERVICE_HOME: the repository checkout (default: two levels above this script).
set -euo pipefail
SQLFLUFF_SERVICE_HOME="${SQLFLUFF_SERVICE_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export SQLFLUFF_SERVICE_HOME
ENV_FILE="${SQLFLUFF_SERVICE_ENV:-/etc/sqlfluff-service.env}"
if [ -f "$ENV_FILE" ]; then
  set -a; . "$ENV_FILE"; set +a
fi
VENV="${SQLFLUFF_SERVICE_VENV:-$SQLFLUFF_SERVICE_HOME/.venv}"
PATH="$VENV/bin:$PATH"
cd "$SQLFLUFF_SERVICE_HOME"
