#!/bin/sh
# Container entrypoint (docker-compose.yml; Kubernetes runs the services with their own Secret instead).
#   secrets    as root, into /secrets: the installation's secrets (once; later runs add only what is
#              missing), its CA and the servers' certificates (shared/tls.py), each service's own file
#              (/secrets/services/<service>.env, readable by that service's uid alone), and what
#              PostgreSQL and RabbitMQ need (/secrets/postgres, /secrets/rabbitmq, owned by their uid 999)
#   provision  the database roles, schemas and grants (shared/access.py), as the superuser over TLS
#   alertmanager-config
#              as root, into /alertmanager-config: where alerts go (shared/monitoring.py, the ALERT_*
#              settings), readable by the alertmanager container's uid (65534) alone
#   (none)     the service SERVICE, with its own file only
set -eu
SECRETS=${SECRETS_DIR:-/secrets}
CA=$SECRETS/tls/ca.crt
SERVICES="cases referrals approvals notifications gateway"
MONITORING_UID=10016  # postgres_exporter's, in docker-compose.yml

# Each service runs as a uid of its own (docker-compose.yml), so it can read no other service's file.
uid_of() {
  case $1 in cases) echo 10011 ;; referrals) echo 10012 ;; approvals) echo 10013 ;; notifications) echo 10014 ;;
             gateway) echo 10015 ;; *) echo "unknown service $1" >&2; exit 2 ;; esac
}

make_secrets() {
  umask 077
  mkdir -p "$SECRETS/tls" "$SECRETS/services" "$SECRETS/postgres" "$SECRETS/rabbitmq" "$SECRETS/monitoring"
  python -m shared.secrets "$SECRETS/secrets.env" >> "$SECRETS/secrets.env"
  grep -q '^POSTGRES_SUPERUSER_PASSWORD=' "$SECRETS/secrets.env" \
    || echo "POSTGRES_SUPERUSER_PASSWORD=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" >> "$SECRETS/secrets.env"
  python -m shared.tls "$SECRETS/tls" --server postgres=postgres --server rabbitmq=rabbitmq
  python -m shared.secrets "$SECRETS/secrets.env" --per-service "$SECRETS/services" \
    --amqp-uri 'amqps://{login}:{password}@rabbitmq:5671/'
  for service in $SERVICES; do chown "$(uid_of "$service")" "$SECRETS/services/$service.env"; done
  chmod 755 "$SECRETS" "$SECRETS/tls" "$SECRETS/services"; chmod 644 "$CA"
  for server in postgres rabbitmq; do
    cp "$CA" "$SECRETS/$server/ca.crt"
    cp "$SECRETS/tls/$server.crt" "$SECRETS/$server/server.crt"
    cp "$SECRETS/tls/$server.key" "$SECRETS/$server/server.key"
  done
  sed -n 's/^POSTGRES_SUPERUSER_PASSWORD=//p' "$SECRETS/secrets.env" | tail -1 > "$SECRETS/postgres/superuser-password"
  ( set -a; . "$SECRETS/secrets.env"; python -m shared.access broker ) > "$SECRETS/rabbitmq/definitions.json"
  chown -R 999:999 "$SECRETS/postgres" "$SECRETS/rabbitmq"
  chmod 700 "$SECRETS/postgres" "$SECRETS/rabbitmq"
  # postgres_exporter's login password (its `monitoring` login), for its uid alone.
  sed -n 's/^MONITORING_DB_PASSWORD=//p' "$SECRETS/secrets.env" | tail -1 > "$SECRETS/monitoring/postgres-password"
  chown -R "$MONITORING_UID:$MONITORING_UID" "$SECRETS/monitoring"; chmod 700 "$SECRETS/monitoring"
}

# Kubernetes gives the job its Secret as environment variables instead of the file.
provision() {
  if [ -f "$SECRETS/secrets.env" ]; then set -a; . "$SECRETS/secrets.env"; set +a; fi
  PGPASSWORD=$POSTGRES_SUPERUSER_PASSWORD PGSSLMODE=verify-full PGSSLROOTCERT=${PGSSLROOTCERT:-$CA} \
    python -m shared.access database --host "${POSTGRES_HOST:-postgres}" --port "${POSTGRES_PORT:-5432}" \
      --dbname "${POSTGRES_DBNAME:-casetrail}" --admin "${POSTGRES_SUPERUSER:-postgres}" "$@"
}

alertmanager_config() {
  out=/alertmanager-config
  umask 077
  set -- --email-to "${ALERT_EMAIL_TO:-root@localhost}" --email-from "${ALERT_EMAIL_FROM:-casetrail-alerts@localhost}" \
    --smarthost "${ALERT_SMTP_HOST:-127.0.0.1}:${ALERT_SMTP_PORT:-25}" --smtp-username "${ALERT_SMTP_USERNAME:-}" \
    --require-tls "${ALERT_SMTP_REQUIRE_TLS:-auto}"
  rm -f "$out/smtp-password"
  if [ -n "${ALERT_SMTP_PASSWORD:-}" ]; then
    printf '%s' "$ALERT_SMTP_PASSWORD" > "$out/smtp-password"
    set -- "$@" --smtp-password-file /etc/alertmanager/casetrail/smtp-password  # where the alertmanager container reads it
  fi
  case ${ALERT_SMTP_HOST:-127.0.0.1} in 127.*|localhost|::1)
    echo "ALERT_SMTP_HOST is this container: set it to a mail server the alertmanager container reaches" >&2 ;;
  esac
  # The webhook's URL through a pipe, never a command line.
  printf '%s' "${ALERT_WEBHOOK_URL:-}" | python -m shared.monitoring alertmanager --out "$out/alertmanager.yml" \
    --webhook-url-file /dev/stdin "$@"
  chown -R 65534 "$out"
}

case "${1:-}" in
  secrets) make_secrets ;;
  alertmanager-config) alertmanager_config ;;
  provision) shift; provision "$@" ;;
  *)
    own=$SECRETS/services/${SERVICE:?SERVICE names the service to run}.env
    if [ -f "$own" ]; then set -a; . "$own"; set +a; fi
    exec nameko run --config config/nameko.yaml "services.$SERVICE.service:$(echo "$SERVICE" | sed "s/^./\U&/")Service" ;;
esac
