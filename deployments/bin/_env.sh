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

# Dask over TLS (docs/deployment.md, "Dask over TLS"), called by the scripts that speak to Dask.
# With DASK_TLS_CA_FILE, DASK_TLS_CERT and DASK_TLS_KEY set (certificates from
# deployments/make-dask-certs.sh), exports distributed's own TLS settings for this process and its
# children (flow runs included): that certificate both ways, encryption required; and fills
# DASK_TLS_ARGS with the matching --tls-* flags. Unset: plain tcp, as before.
dask_tls() {
  DASK_TLS_ARGS=()
  [ -n "${DASK_TLS_CA_FILE:-}${DASK_TLS_CERT:-}${DASK_TLS_KEY:-}" ] || return 0
  local name role
  for name in DASK_TLS_CA_FILE DASK_TLS_CERT DASK_TLS_KEY; do
    if [ -z "${!name:-}" ] || [ ! -r "${!name}" ]; then
      echo "invalid setting $name: '${!name:-}' is not a readable file" \
        "(set all of DASK_TLS_CA_FILE, DASK_TLS_CERT, DASK_TLS_KEY, or none)" >&2
      exit 2
    fi
  done
  case "${DASK_SCHEDULER_ADDRESS:-}" in
    "" | tls://*) ;;
    *)
      echo "invalid setting DASK_SCHEDULER_ADDRESS: '$DASK_SCHEDULER_ADDRESS' must be" \
        "tls://host:port when DASK_TLS_* are set" >&2
      exit 2
      ;;
  esac
  export DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION=True
  export DASK_DISTRIBUTED__COMM__TLS__CA_FILE="$DASK_TLS_CA_FILE"
  for role in SCHEDULER WORKER CLIENT; do
    export "DASK_DISTRIBUTED__COMM__TLS__${role}__CERT=$DASK_TLS_CERT"
    export "DASK_DISTRIBUTED__COMM__TLS__${role}__KEY=$DASK_TLS_KEY"
  done
  DASK_TLS_ARGS=(--tls-ca-file "$DASK_TLS_CA_FILE" --tls-cert "$DASK_TLS_CERT" --tls-key "$DASK_TLS_KEY")
}
