#!/bin/sh
# Container entrypoint: `secrets` writes the installation's secrets once; services read them
# from that file (docker compose) or from their environment (Kubernetes Secrets).
set -eu
SECRETS=${SECRETS_FILE:-/secrets/secrets.env}
if [ "${1:-}" = "secrets" ]; then
  umask 077; python -m shared.secrets "$SECRETS" >> "$SECRETS"  # only what it lacks
  chown 10001 "$SECRETS"  # the services run as uid 10001
  exit 0
fi
if [ -f "$SECRETS" ]; then set -a; . "$SECRETS"; set +a; fi
exec nameko run --config config/nameko.yaml "services.${SERVICE:?SERVICE names the service to run}.service:$(echo "$SERVICE" | sed "s/^./\U&/")Service"
