#!/bin/sh
# Container entrypoint: `secrets` writes the installation's secrets once; services read them.
set -eu
SECRETS=${SECRETS_FILE:-/secrets/secrets.env}
if [ "${1:-}" = "secrets" ]; then
  umask 077; python -m shared.secrets "$SECRETS" >> "$SECRETS"  # only what it lacks
  chown 10001 "$SECRETS"  # the services run as uid 10001
  exit 0
fi
set -a; . "$SECRETS"; set +a
exec nameko run --config config/nameko.yaml "services.${SERVICE:?SERVICE names the service to run}.service:$(echo "$SERVICE" | sed "s/^./\U&/")Service"
