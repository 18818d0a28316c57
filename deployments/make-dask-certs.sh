#!/usr/bin/env bash
# Certificates for Dask over TLS (docs/deployment.md, "Dask over TLS"), made with openssl:
#
#   deployments/make-dask-certs.sh DIR
#
# DIR/ca.pem, DIR/ca-key.pem  a private CA (made once; reused when already in DIR, so running the
#                             script again renews the cluster certificate under the same CA)
# DIR/cluster.pem, DIR/cluster-key.pem
#                             the one cluster certificate and key, signed by the CA, for both
#                             ends of every Dask connection (TLS server and client)
#
# One shared cluster certificate, not one per role: Dask checks only that the peer's certificate
# chains to DASK_TLS_CA_FILE (no host names, no roles), so any certificate of this CA may act as
# scheduler, worker or client, and per-role certificates would limit nothing. Copy ca.pem,
# cluster.pem and cluster-key.pem to the scheduler, worker and Prefect worker hosts (the key
# readable by the service's user only); keep ca-key.pem off the cluster.
# DAYS (default 825) is the cluster certificate's lifetime, CA_DAYS (default 3650) the CA's.
set -euo pipefail
DIR="${1:?usage: make-dask-certs.sh DIR}"
DAYS="${DAYS:-825}"
CA_DAYS="${CA_DAYS:-3650}"
mkdir -p "$DIR"
cd "$DIR"
umask 077
trap 'rm -f cluster.csr cluster.ext cluster.pem.new cluster-key.pem.new ca.srl' EXIT
# openssl, its chatter shown only when it fails
quiet() { local out; out=$("$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }; }
if [ ! -f ca-key.pem ]; then
  quiet openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca-key.pem -out ca.pem -days "$CA_DAYS" -subj "/CN=sqlfluff-service Dask CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
fi
quiet openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout cluster-key.pem.new -out cluster.csr -subj "/CN=sqlfluff-service Dask cluster"
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
  "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth,clientAuth" \
  "subjectAltName=DNS:sqlfluff-dask" >cluster.ext
quiet openssl x509 -req -in cluster.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
  -out cluster.pem.new -days "$DAYS" -sha256 -extfile cluster.ext
quiet openssl verify -CAfile ca.pem cluster.pem.new
mv cluster-key.pem.new cluster-key.pem
mv cluster.pem.new cluster.pem
chmod 600 ca-key.pem cluster-key.pem
chmod 644 ca.pem cluster.pem
echo "made $PWD/{ca.pem,cluster.pem,cluster-key.pem} (valid $DAYS days); keep $PWD/ca-key.pem offline"
