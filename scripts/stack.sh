#!/usr/bin/env bash
# Casetrail's local stack without systemd: PostgreSQL, RabbitMQ, the nameko services and what watches
# them (Prometheus, Alertmanager, postgres_exporter, node_exporter), all on 127.0.0.1, all state under
# $CASETRAIL_RUN_DIR (default .run/). Every start is idempotent.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${CASETRAIL_RUN_DIR:-$ROOT/.run}
VENV=${CASETRAIL_VENV:-$ROOT/.venv}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export POSTGRES_HOST=${POSTGRES_HOST:-127.0.0.1} POSTGRES_PORT=${POSTGRES_PORT:-54329}
export POSTGRES_DBNAME=${POSTGRES_DBNAME:-casetrail} POSTGRES_USER=${POSTGRES_USER:-postgres}
export RABBITMQ_PORT=${RABBITMQ_PORT:-5673} RABBITMQ_DIST_PORT=${RABBITMQ_DIST_PORT:-25673}
export GATEWAY_PORT=${GATEWAY_PORT:-8000} PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
ALERTMANAGER_PORT=${ALERTMANAGER_PORT:-9093} RABBITMQ_PROMETHEUS_PORT=${RABBITMQ_PROMETHEUS_PORT:-15692}
POSTGRES_EXPORTER_PORT=${POSTGRES_EXPORTER_PORT:-9187} NODE_EXPORTER_PORT=${NODE_EXPORTER_PORT:-9100}
# Base backups and archived WAL (README: Backups and restore). Meant for another disk or machine: a copy
# beside the data it protects is lost with it.
BACKUP_DIR=${BACKUP_DIR:-$RUN/backups} BACKUP_KEEP=${BACKUP_KEEP:-7}
WAL_ARCHIVE=${WAL_ARCHIVE:-on} ARCHIVE_TIMEOUT=${ARCHIVE_TIMEOUT:-60}
BACKUP_DIR=$(realpath -m "$BACKUP_DIR")  # PostgreSQL runs the archive command in its data folder
SERVICES="cases referrals approvals notifications gateway"
# Each service's HTTP port (/health, /metrics; the gateway also serves the API there).
http_port() {
  case $1 in
    cases) echo "${CASES_HTTP_PORT:-9101}" ;; referrals) echo "${REFERRALS_HTTP_PORT:-9102}" ;;
    approvals) echo "${APPROVALS_HTTP_PORT:-9103}" ;; notifications) echo "${NOTIFICATIONS_HTTP_PORT:-9104}" ;;
    gateway) echo "$GATEWAY_PORT" ;;
  esac
}

log() { printf '%s\n' "$*" >&2; }

need_root_for_apt() {
  if [ "$(id -u)" -ne 0 ]; then log "installing Debian packages needs root (or sudo): $*"; exit 1; fi
}

install_packages() {
  local missing=()
  [ -x "$PG_BIN/initdb" ] || missing+=(postgresql)
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || missing+=(rabbitmq-server)
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
  command -v curl >/dev/null || missing+=(curl)
  [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || missing+=(prometheus)
  [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
  [ -x /usr/bin/prometheus-postgres-exporter ] || missing+=(prometheus-postgres-exporter)
  [ -x /usr/bin/prometheus-node-exporter ] || missing+=(prometheus-node-exporter)
  command -v npm >/dev/null || missing+=(nodejs npm)  # the OpenAPI linter (tools/openapi-lint)
  [ -x /usr/bin/chromium ] || missing+=(chromium)  # the web app's browser tests (web/tests)
  # Playwright's own Node.js (the driver that speaks to Chromium) needs libatomic, which minimal Debian lacks.
  compgen -G '/usr/lib/*/libatomic.so.1' >/dev/null || missing+=(libatomic1)
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root_for_apt "${missing[@]}"
  log "installing ${missing[*]}"
  # Debian's postinst scripts try to start the servers: keep them from it, we run our own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
}

install_venv() {
  local stamp=$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)
  [ -f "$stamp" ] && return 0
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  log "installing Python packages into $VENV (log: $RUN/log/pip.log)"
  mkdir -p "$RUN/log"
  { "$VENV/bin/pip" install --upgrade 'pip>=23' 'setuptools<82' \
      && "$VENV/bin/pip" install -e "$ROOT[test]"; } > "$RUN/log/pip.log" 2>&1 \
    || { tail -n 30 "$RUN/log/pip.log" >&2; exit 1; }
  rm -f "$VENV"/.installed-*; touch "$stamp"
}

install_node_tools() {
  # What `make test` runs on Node or loads from npm, each pinned by its package-lock.json: the OpenAPI
  # linter (Spectral, tools/openapi-lint) and axe-core for the web app's accessibility check (tools/browser-tests).
  local tools stamp
  for tools in "$ROOT/tools/openapi-lint" "$ROOT/tools/browser-tests"; do
    stamp=$tools/node_modules/.installed-$(sha256sum "$tools/package-lock.json" | cut -c1-16)
    [ -f "$stamp" ] && continue
    log "installing $(basename "$tools") into $tools/node_modules (log: $RUN/log/npm.log)"
    mkdir -p "$RUN/log"
    (cd "$tools" && npm ci --no-audit --no-fund) > "$RUN/log/npm.log" 2>&1 || { tail -n 30 "$RUN/log/npm.log" >&2; exit 1; }
    rm -f "$tools"/node_modules/.installed-*; touch "$stamp"
  done
}

# postgres must be able to walk down to its folders.
reachable_by_postgres() { local d=$1; while [ "$d" != / ]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done; }

pg_running() { [ -f "$RUN/pg/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN/pg" status >/dev/null 2>&1; }

start_postgres() {
  mkdir -p "$RUN/pg" "$RUN/pgsock" "$RUN/log"
  chmod 755 "$RUN"; chown postgres: "$RUN/pg" "$RUN/pgsock"
  touch "$RUN/log/postgres.log"; chown postgres: "$RUN/log/postgres.log"
  reachable_by_postgres "$RUN"
  if [ ! -f "$RUN/pg/PG_VERSION" ]; then
    runuser -u postgres -- "$PG_BIN/initdb" -D "$RUN/pg" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  write_pg_hba
  if pg_running; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN/pg" reload >/dev/null
    archiving_as_wanted
  else
    write_archiving
    pg_ctl_start
  fi
  psql_q "SELECT 1 FROM pg_database WHERE datname='$POSTGRES_DBNAME'" | grep -q 1 \
    || psql_q "CREATE DATABASE \"$POSTGRES_DBNAME\"" >/dev/null
  provision_postgres
}

# Written at every start (an installation made with --auth=trust is upgraded; edits are overwritten):
# every login over TCP proves a SCRAM password; the superuser is for administration only, over the
# Unix socket, by root or the postgres system user (peer), never over TCP.
write_pg_hba() {
  cat > "$RUN/pg/pg_hba.conf" <<'HBA'
# Written by scripts/stack.sh at every start: edit that instead.
# TYPE  DATABASE  USER      ADDRESS       METHOD
local   all       postgres                peer map=admin
local   replication postgres              peer map=admin
local   all       all                     scram-sha-256
host    all       postgres  127.0.0.1/32  reject
host    all       postgres  ::1/128       reject
host    all       all       127.0.0.1/32  scram-sha-256
host    all       all       ::1/128       scram-sha-256
HBA
  printf '# Written by scripts/stack.sh: who may log in as the superuser over the socket.\nadmin root postgres\nadmin postgres postgres\n' \
    > "$RUN/pg/pg_ident.conf"
  chown postgres: "$RUN/pg/pg_hba.conf" "$RUN/pg/pg_ident.conf"; chmod 600 "$RUN/pg/pg_hba.conf" "$RUN/pg/pg_ident.conf"
}

# pg_stat_statements is loaded: it counts every statement's calls (normalised, values as $1; a small cost), which `make bench`
# reads for the database round trips and statements per command (issue 23.1) once a database creates the extension.
pg_ctl_start() {
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN/pg" -l "$RUN/log/postgres.log" -w -t 600 \
    -o "-k $RUN/pgsock -p $POSTGRES_PORT -c listen_addresses=127.0.0.1 -c max_connections=300 -c password_encryption=scram-sha-256 -c shared_preload_libraries=pg_stat_statements" start >/dev/null \
    || { log "PostgreSQL did not start (is port $POSTGRES_PORT taken?):"; tail -n 20 "$RUN/log/postgres.log" >&2; exit 1; }
}

# WAL archiving, written into the data folder before each start (archive_mode takes effect only then):
# each finished WAL segment is compressed into $BACKUP_DIR/wal, written beside its final name, synced,
# then renamed, so a segment there is always whole. A segment archived already counts as archived only
# if it is the same (PostgreSQL may offer one again after a crash).
write_archiving() {
  local wal=$BACKUP_DIR/wal conf=$RUN/pg/archiving.conf
  if [ "$WAL_ARCHIVE" = on ]; then
    mkdir -p "$wal"; chown postgres: "$BACKUP_DIR" "$wal"; chmod 700 "$BACKUP_DIR" "$wal"
    reachable_by_postgres "$(dirname "$BACKUP_DIR")"
    cat > "$conf" <<CONF
# Written by scripts/stack.sh at every start of PostgreSQL (WAL_ARCHIVE, BACKUP_DIR, ARCHIVE_TIMEOUT): edit those.
archive_mode = on
archive_timeout = $ARCHIVE_TIMEOUT
archive_command = 'f="$wal/%f.gz"; test ! -f "\$f" && gzip -1 -c "%p" > "\$f.part" && sync "\$f.part" && mv "\$f.part" "\$f" && sync "$wal" || { test -f "\$f" && gzip -dc "\$f" | cmp -s - "%p"; }'
CONF
  else
    printf '# Written by scripts/stack.sh: WAL_ARCHIVE=%s\narchive_mode = off\n' "$WAL_ARCHIVE" > "$conf"
  fi
  chown postgres: "$conf"
  rm -f "$RUN/pg/restore-target.conf"
  include_conf archiving.conf
  include_conf restore-target.conf
}

include_conf() {
  grep -qx "include_if_exists = '$1'" "$RUN/pg/postgresql.conf" \
    || echo "include_if_exists = '$1'" >> "$RUN/pg/postgresql.conf"
}

# A running server keeps the archive_mode it started with: say so rather than restart it under the services.
archiving_as_wanted() {
  [ "$WAL_ARCHIVE" = on ] || return 0
  [ "$(psql_q 'SHOW archive_mode')" = on ] && return 0
  log "WARNING: PostgreSQL runs without WAL archiving, so no backup can restore to a moment after it was"
  log "taken. It takes effect at PostgreSQL's next start: make down && make up."
}

psql_q() { psql -h "$RUN/pgsock" -p "$POSTGRES_PORT" -U postgres -d postgres -tAc "$1"; }

# A role per service and CLI, with the passwords in the secrets file (shared/access.py).
provision_postgres() {
  secrets
  ( cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m shared.access database --host "$RUN/pgsock" \
      --port "$POSTGRES_PORT" --dbname "$POSTGRES_DBNAME" "$@" )
}

stop_postgres() {
  pg_running && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$RUN/pg" -m fast -w stop >/dev/null || true
}

rabbit_env() {
  local R=$RUN/rmq
  mkdir -p "$R/home"
  export HOME=$R/home RABBITMQ_NODENAME=${RABBITMQ_NODENAME:-casetrail@localhost} RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$RABBITMQ_PORT RABBITMQ_DIST_PORT=$RABBITMQ_DIST_PORT ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_MNESIA_BASE=$R/mnesia RABBITMQ_LOG_BASE=$R/log RABBITMQ_PID_FILE=$R/pid \
    RABBITMQ_CONFIG_FILE=$R/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$R/enabled_plugins \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  [ -f "$R/rabbitmq.conf" ] || printf 'loopback_users = none\nlisteners.tcp.default = 127.0.0.1:%s\n' "$RABBITMQ_PORT" > "$R/rabbitmq.conf"
  [ -f "$R/enabled_plugins" ] || echo '[].' > "$R/enabled_plugins"
}

# The broker's own metrics (rabbitmq_prometheus), on 127.0.0.1 only: the listener is rewritten at every
# start; an installation made before gets the plugin here, and serves it from its next start.
rabbit_prometheus() {
  sed -i '/^prometheus\.tcp\./d' "$RUN/rmq/rabbitmq.conf"
  printf 'prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = %s\n' "$RABBITMQ_PROMETHEUS_PORT" >> "$RUN/rmq/rabbitmq.conf"
  grep -q rabbitmq_prometheus "$RUN/rmq/enabled_plugins" && return 0
  /usr/lib/rabbitmq/bin/rabbitmq-plugins enable --offline rabbitmq_prometheus >/dev/null
  rabbit_running && log "RabbitMQ serves its metrics from its next start (make down; make up)"
  return 0
}

rabbit_running() { [ -f "$RUN/rmq/pid" ] && kill -0 "$(cat "$RUN/rmq/pid")" 2>/dev/null; }

start_rabbitmq() {
  ( rabbit_env; rabbit_prometheus
    if ! rabbit_running; then
      # A taken metrics port would stop the broker from booting at all: say which.
      if (exec 3<>"/dev/tcp/127.0.0.1/$RABBITMQ_PROMETHEUS_PORT") 2>/dev/null; then
        log "RABBITMQ_PROMETHEUS_PORT $RABBITMQ_PROMETHEUS_PORT is taken: RabbitMQ could not serve its metrics there"; exit 1
      fi
      pgrep -x epmd >/dev/null || echo started > "$RUN/rmq/epmd-ours"
      /usr/lib/rabbitmq/bin/rabbitmq-server -detached
      # The pid file appears a moment after -detached returns.
      for _ in $(seq 50); do [ -s "$RABBITMQ_PID_FILE" ] && break; sleep 0.2; done
    fi
    /usr/lib/rabbitmq/bin/rabbitmqctl wait --timeout 90 "$RABBITMQ_PID_FILE" >/dev/null )
  provision_rabbitmq
}

# A user per service and CLI with the narrowest permissions its code allows, the exchanges, and no
# guest (shared/access.py). Applied at every start: an installation made before is upgraded.
provision_rabbitmq() {
  secrets
  # Whole before rabbitmqctl starts: it does not wait for a slow writer on its standard input.
  local definitions
  definitions=$(cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m shared.access broker)
  rabbitmqctl_cmd import_definitions <<< "$definitions" >/dev/null
  rabbitmqctl_cmd delete_user guest >/dev/null 2>&1 || true
  # Retry queues were `<queue>.retry` (shared/consumer.py): once drained back into their handler's
  # queue, they go; one still holding messages goes at a later start.
  local queue
  for queue in $(rabbitmqctl_cmd list_queues -q --no-table-headers name | grep -E '^casetrail\..+\.retry$' || true); do
    rabbitmqctl_cmd delete_queue --if-empty "$queue" >/dev/null 2>&1 || true
  done
}

stop_rabbitmq() {
  ( rabbit_env
    if rabbit_running; then /usr/lib/rabbitmq/bin/rabbitmqctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || kill "$(cat "$RABBITMQ_PID_FILE")"; fi
    rm -f "$RABBITMQ_PID_FILE"
    if [ -f "$RUN/rmq/epmd-ours" ]; then
      pkill -x epmd || true
      for _ in $(seq 50); do pgrep -x epmd >/dev/null || break; sleep 0.1; done
      rm -f "$RUN/rmq/epmd-ours"
    fi )
}

# Prometheus, Alertmanager and the exporters: each started with nothing in its environment but what it
# needs (never the installation's secrets), and ready when its URL answers.
MONITORS="postgres-exporter node-exporter alertmanager prometheus"
monitor_running() { [ -f "$RUN/pids/$1.pid" ] && kill -0 "$(cat "$RUN/pids/$1.pid")" 2>/dev/null; }

# start_monitor NAME URL [VAR=value...] COMMAND...
start_monitor() {
  local name=$1 url=$2; shift 2
  mkdir -p "$RUN/pids" "$RUN/log"
  if ! monitor_running "$name"; then
    if curl -s -o /dev/null "$url"; then log "$name: something else answers $url (is its port taken?)"; exit 1; fi
    setsid env -i PATH=/usr/bin:/bin "$@" >> "$RUN/log/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN/pids/$name.pid"
  fi
  for _ in $(seq 60); do
    curl -fsS "$url" >/dev/null 2>&1 && return 0
    monitor_running "$name" || break; sleep 0.5
  done
  log "$name did not become ready; see $RUN/log/$name.log"; tail -n 20 "$RUN/log/$name.log" >&2; exit 1
}

# A configuration written anew ($1.new) replaces the one in use ($1) only when it differs; a running
# Prometheus or Alertmanager (pid file $2) then reads it again.
replace_config() {
  if cmp -s "$1.new" "$1"; then rm -f "$1.new"; return 0; fi
  mv "$1.new" "$1"
  monitor_running "$2" && kill -HUP "$(cat "$RUN/pids/$2.pid")"
  return 0
}

stop_monitor() {
  if monitor_running "$1"; then
    local pid; pid=$(cat "$RUN/pids/$1.pid"); kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$RUN/pids/$1.pid"
}

start_postgres_exporter() {
  # As casetrail_monitoring (pg_monitor, shared/access.py), its password in a file only it reads.
  secrets
  mkdir -p "$RUN/postgres-exporter"
  ( umask 077; printf '%s' "$MONITORING_DB_PASSWORD" > "$RUN/postgres-exporter/password" )
  start_monitor postgres-exporter "http://127.0.0.1:$POSTGRES_EXPORTER_PORT/" \
    DATA_SOURCE_URI="$POSTGRES_HOST:$POSTGRES_PORT/$POSTGRES_DBNAME?sslmode=disable" \
    DATA_SOURCE_USER=casetrail_monitoring DATA_SOURCE_PASS_FILE="$RUN/postgres-exporter/password" \
    /usr/bin/prometheus-postgres-exporter --web.listen-address="127.0.0.1:$POSTGRES_EXPORTER_PORT"
}

start_node_exporter() {
  # What an operator acts on: disk space above all (PostgreSQL's and RabbitMQ's), memory, load; and the
  # newest backup, from the file make backup writes into $RUN/metrics.
  mkdir -p "$RUN/metrics"
  start_monitor node-exporter "http://127.0.0.1:$NODE_EXPORTER_PORT/" /usr/bin/prometheus-node-exporter \
    --web.listen-address="127.0.0.1:$NODE_EXPORTER_PORT" --collector.disable-defaults \
    --collector.filesystem --collector.meminfo --collector.loadavg --collector.cpu \
    --collector.textfile --collector.textfile.directory="$RUN/metrics"
}

# Where alerts go: the installation's ALERT_* settings, from the environment or else $RUN/alerting.env
# (KEY=value lines), so that every `make up` renders the same.
alert_settings() {
  local key value
  if [ -f "$RUN/alerting.env" ]; then
    while IFS='=' read -r key value || [ -n "$key" ]; do
      case $key in ALERT_*) [ -n "${!key+x}" ] || export "$key=$value" ;; esac
    done < "$RUN/alerting.env"
  fi
  ALERT_EMAIL_TO=${ALERT_EMAIL_TO:-root@localhost} ALERT_EMAIL_FROM=${ALERT_EMAIL_FROM:-casetrail-alerts@localhost}
  ALERT_SMTP_HOST=${ALERT_SMTP_HOST:-127.0.0.1} ALERT_SMTP_PORT=${ALERT_SMTP_PORT:-25}
  ALERT_SMTP_USERNAME=${ALERT_SMTP_USERNAME:-} ALERT_SMTP_PASSWORD=${ALERT_SMTP_PASSWORD:-}
  ALERT_SMTP_REQUIRE_TLS=${ALERT_SMTP_REQUIRE_TLS:-auto} ALERT_WEBHOOK_URL=${ALERT_WEBHOOK_URL:-}
}

start_alertmanager() {
  alert_settings
  local d=$RUN/alertmanager password=()
  mkdir -p "$d/data"; chmod 700 "$d"
  if [ -n "$ALERT_SMTP_PASSWORD" ]; then
    ( umask 077; printf '%s' "$ALERT_SMTP_PASSWORD" > "$d/smtp-password" ); password=(--smtp-password-file "$d/smtp-password")
  else
    rm -f "$d/smtp-password"
  fi
  # The webhook's URL (often a secret of its own) reaches the renderer through a pipe, never a command line.
  ( cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m shared.monitoring alertmanager --out "$d/alertmanager.yml.new" \
      --email-to "$ALERT_EMAIL_TO" --email-from "$ALERT_EMAIL_FROM" --smarthost "$ALERT_SMTP_HOST:$ALERT_SMTP_PORT" \
      --smtp-username "$ALERT_SMTP_USERNAME" "${password[@]}" --require-tls "$ALERT_SMTP_REQUIRE_TLS" \
      --webhook-url-file <(printf '%s' "$ALERT_WEBHOOK_URL") )
  replace_config "$d/alertmanager.yml" alertmanager
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$ALERT_SMTP_HOST" "$ALERT_SMTP_PORT" 2>/dev/null \
    || log "nothing answers at $ALERT_SMTP_HOST:$ALERT_SMTP_PORT (ALERT_SMTP_HOST, ALERT_SMTP_PORT): alerts cannot be e-mailed"
  # --cluster.listen-address= : no gossip with other Alertmanagers (it would listen on every interface).
  start_monitor alertmanager "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready" /usr/bin/prometheus-alertmanager \
    --config.file="$d/alertmanager.yml" --storage.path="$d/data" --cluster.listen-address= \
    --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" --web.external-url="http://127.0.0.1:$ALERTMANAGER_PORT"
}

start_prometheus() {
  # Scrapes every service and the servers under them, evaluates the alert rules and sends what fires to
  # Alertmanager: deploy/prometheus/prometheus.yml with this installation's ports.
  local port=() s
  for s in $SERVICES; do port+=(--port "$s=$(http_port "$s")"); done
  ( cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m shared.monitoring prometheus \
      --config "$ROOT/deploy/prometheus/prometheus.yml" --out "$RUN/prometheus.yml.new" "${port[@]}" \
      --port "postgres=$POSTGRES_EXPORTER_PORT" --port "rabbitmq=$RABBITMQ_PROMETHEUS_PORT" \
      --port "node=$NODE_EXPORTER_PORT" --alertmanager "127.0.0.1:$ALERTMANAGER_PORT" )
  replace_config "$RUN/prometheus.yml" prometheus
  start_monitor prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" /usr/bin/prometheus \
    --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/prometheus" \
    --storage.tsdb.retention.time=15d --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
}

start_monitoring() { start_postgres_exporter; start_node_exporter; start_alertmanager; start_prometheus; }

stop_monitoring() { local m; for m in $MONITORS; do stop_monitor "$m"; done; }

rabbitmqctl_cmd() { ( rabbit_env; /usr/lib/rabbitmq/bin/rabbitmqctl "$@" ); }

secrets() {
  # Generated once per installation; never committed.
  local f=$RUN/secrets.env
  mkdir -p "$RUN"
  ( umask 077; cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m shared.secrets "$f" >> "$f" )
  set -a; . "$f"; set +a
}

# `env -u` options for every secret in the secrets file that is not the service's own (shared/secrets.py own()).
others_secrets() {
  ( cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m shared.secrets "$RUN/secrets.env" --others "$1" ) | sed 's/^/-u /'
}

# The logins a process uses: ${NAME}_DB_PASSWORD and ${NAME}_AMQP_PASSWORD from the secrets file.
connect_as() {
  local name=$1 db_password="${1^^}_DB_PASSWORD" amqp_password="${1^^}_AMQP_PASSWORD"
  export POSTGRES_USER=casetrail_$name POSTGRES_PASSWORD=${!db_password}
  [ -n "${!amqp_password:-}" ] && export AMQP_URI="pyamqp://casetrail_$name:${!amqp_password}@127.0.0.1:$RABBITMQ_PORT/"
  return 0
}

service_running() { [ -f "$RUN/pids/$1.pid" ] && kill -0 "$(cat "$RUN/pids/$1.pid")" 2>/dev/null; }

start_services() {
  secrets
  mkdir -p "$RUN/pids" "$RUN/log"
  export PSYCOPG_WAIT_FUNC=wait_select PYTHONPATH=$ROOT
  export AUDIT_CHECKPOINT_DIR=${AUDIT_CHECKPOINT_DIR:-$RUN/audit-checkpoints}
  export PYTHONWARNINGS="ignore::Warning:nameko.cli.commands,ignore::Warning:nameko.containers"
  for s in $SERVICES; do
    service_running "$s" && continue
    # shellcheck disable=SC2046
    ( cd "$ROOT"; connect_as "$s"; unset ALERT_SMTP_PASSWORD ALERT_WEBHOOK_URL  # Alertmanager's alone
      WEB_SERVER_ADDRESS=127.0.0.1:$(http_port "$s") setsid env $(others_secrets "$s") "$VENV/bin/nameko" run --config config/nameko.yaml "services.$s.service:${s^}Service" \
        >> "$RUN/log/$s.log" 2>&1 < /dev/null & echo $! > "$RUN/pids/$s.pid" )
  done
  # Up means every service answers /health, not only the gateway.
  for _ in $(seq 120); do
    local waiting=""
    for s in $SERVICES; do
      service_running "$s" || { log "service $s exited; see $RUN/log/$s.log"; tail -20 "$RUN/log/$s.log" >&2; exit 1; }
      curl -fsS "http://127.0.0.1:$(http_port "$s")/health" >/dev/null 2>&1 || waiting="$waiting $s"
    done
    # The quarantine CLI may read the quarantine tables the services have made by now.
    [ -z "$waiting" ] && { provision_postgres --quarantine-only; return 0; }
    sleep 0.5
  done
  log "not answering /health after 60 s:$waiting; see $RUN/log/"; exit 1
}

stop_services() {
  local pids=()
  for s in $SERVICES; do
    service_running "$s" && { kill -TERM "$(cat "$RUN/pids/$s.pid")"; pids+=("$(cat "$RUN/pids/$s.pid")"); }
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p"
  done
  for s in $SERVICES; do rm -f "$RUN/pids/$s.pid"; done
}

# One service, stopped as stop_services stops them all (a master key rotation restarts only the cases service).
stop_service() {
  local s=$1 p
  service_running "$s" || return 0
  p=$(cat "$RUN/pids/$s.pid")
  kill -TERM "$p"
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then kill -KILL "$p"; fi
  rm -f "$RUN/pids/$s.pid"
}

audit_cli() {
  secrets; connect_as audit; cd "$ROOT"
  export AUDIT_OPERATOR=${AUDIT_OPERATOR:-installation-operator} AUDIT_CHECKPOINT_DIR=${AUDIT_CHECKPOINT_DIR:-$RUN/audit-checkpoints}
  PSYCOPG_WAIT_FUNC=wait_select PYTHONPATH=$ROOT exec "$VENV/bin/python" -m services.cases.audit "$@"
}

psql_db() { psql -h "$RUN/pgsock" -p "$POSTGRES_PORT" -U postgres -d "$POSTGRES_DBNAME" -v ON_ERROR_STOP=1 -tAc "$1"; }

archiving_failing() {
  [ "$(psql_q "SELECT coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) FROM pg_stat_archiver")" = t ]
}

base_backups() { ls -1 "$BACKUP_DIR/base" 2>/dev/null | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort; }

# A base backup of the whole cluster (plain files, with the WAL it needs to be consistent and a manifest),
# checked with pg_verifybackup before it counts; with the archived WAL it restores to any later moment.
backup() {
  pg_running || { log "PostgreSQL is not running (make up)"; exit 1; }
  [ "$(psql_q 'SHOW archive_mode')" = on ] || log "WARNING: WAL archiving is off: this backup restores to the moment it ends, no later (make down && make up turns archiving on)"
  [[ "$BACKUP_KEEP" =~ ^[1-9][0-9]*$ ]] || { log "BACKUP_KEEP must be a whole number of at least 1"; exit 2; }
  archiving_failing && log "WARNING: WAL archiving is failing (see $RUN/log/postgres.log): nothing after its last success can be restored until it is fixed, and pg_wal grows"
  mkdir -p "$BACKUP_DIR/base"; chown postgres: "$BACKUP_DIR" "$BACKUP_DIR/base"; chmod 700 "$BACKUP_DIR" "$BACKUP_DIR/base"
  reachable_by_postgres "$(dirname "$BACKUP_DIR")"
  exec 9> "$BACKUP_DIR/base/.lock"
  flock -n 9 || { log "another backup is running"; exit 1; }
  local stamp; stamp=$(date -u +%Y%m%dT%H%M%SZ)
  local part=$BACKUP_DIR/base/.$stamp.part dir=$BACKUP_DIR/base/$stamp started=$SECONDS
  [ -e "$dir" ] && { log "$dir exists: one backup a second at most"; exit 1; }
  rm -rf "$part"; mkdir -p "$part"; chown postgres: "$part"
  runuser -u postgres -- "$PG_BIN/pg_basebackup" -h "$RUN/pgsock" -p "$POSTGRES_PORT" -U postgres -w -D "$part/data" \
    -Fp -X stream --checkpoint=fast --label="casetrail $stamp" \
    || { rm -rf "$part"; log "pg_basebackup failed: no backup taken"; exit 1; }
  date -u +%s.%N > "$part/finished_at"
  runuser -u postgres -- "$PG_BIN/pg_verifybackup" -q "$part/data" \
    || { log "the backup does not verify (kept for inspection as $part): no backup taken"; exit 1; }
  sync -f "$part/finished_at"; mv "$part" "$dir"; sync "$BACKUP_DIR/base"
  prune_backups
  backup_metrics "$dir" $((SECONDS - started))
  log "backup $dir: $(du -sh "$dir" | cut -f1), $((SECONDS - started)) s, verified; $(base_backups | wc -l) kept (BACKUP_KEEP=$BACKUP_KEEP)"
  log "Not in it, to keep apart from it: the secrets file $RUN/secrets.env (the keys; README: Backups and restore)."
}

# The newest verified backup, for node_exporter's textfile collector (CasetrailBackupTooOld): written
# beside its final name, then renamed, so a scrape never reads half of it.
backup_metrics() {
  local dir=$1 seconds=$2 file=$RUN/metrics/casetrail_backup.prom
  mkdir -p "$RUN/metrics"
  cat > "$file.part" <<METRICS
# HELP casetrail_backup_last_success_timestamp_seconds When the newest verified base backup finished (make backup).
# TYPE casetrail_backup_last_success_timestamp_seconds gauge
casetrail_backup_last_success_timestamp_seconds $(cut -d. -f1 "$dir/finished_at")
# HELP casetrail_backup_duration_seconds How long the newest base backup took, verification included.
# TYPE casetrail_backup_duration_seconds gauge
casetrail_backup_duration_seconds $seconds
# HELP casetrail_backup_size_bytes The newest base backup's size on disk.
# TYPE casetrail_backup_size_bytes gauge
casetrail_backup_size_bytes $(du -sb "$dir" | cut -f1)
METRICS
  mv "$file.part" "$file"
}

# Keeps the newest BACKUP_KEEP base backups and the archived WAL from the oldest of them on.
prune_backups() {
  local all; mapfile -t all < <(base_backups)
  local extra=$(( ${#all[@]} - BACKUP_KEEP )) i first
  for (( i = 0; i < extra; i++ )); do rm -rf "${BACKUP_DIR:?}/base/${all[i]}"; done
  [ ${#all[@]} -gt 0 ] || return 0
  first=$(sed -n 's/^START WAL LOCATION: .* (file \([0-9A-F]\{24\}\))$/\1/p' "$BACKUP_DIR/base/${all[$(( extra > 0 ? extra : 0 ))]}/data/backup_label")
  [ -n "$first" ] && [ -d "$BACKUP_DIR/wal" ] && runuser -u postgres -- "$PG_BIN/pg_archivecleanup" -x .gz "$BACKUP_DIR/wal" "$first"
  return 0
}

# The installation as it was at TARGET (a time date(1) reads, with its zone) or, TARGET=latest, as of the
# newest archived WAL: from the newest base backup finished before it, replaying archived WAL.
restore() {
  local target=${TARGET:-} epoch="" pg_target="" base="" b started=$SECONDS had_services=""
  [ -n "$target" ] || { log "say what to restore: TARGET=latest (everything archived) or TARGET=\"2026-11-24 23:50:00+00\" (a moment, with its zone)"; exit 2; }
  if [ "$target" != latest ]; then
    epoch=$(date -u -d "$target" +%s.%N) || { log "TARGET: not a time: $target (e.g. TARGET=\"2026-11-24 23:50:00+00\" or TARGET=latest)"; exit 2; }
    pg_target=$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M:%S.%6N+00')
  fi
  for b in $(base_backups | sort -r); do
    [ -f "$BACKUP_DIR/base/$b/finished_at" ] || continue
    if [ -z "$epoch" ] || awk -v f="$(cat "$BACKUP_DIR/base/$b/finished_at")" -v t="$epoch" 'BEGIN { exit !(f < t) }'; then
      base=$b; break
    fi
  done
  [ -n "$base" ] || { log "no base backup in $BACKUP_DIR/base finished before $target"; exit 1; }
  # Without the installation's own keys the restored data cannot be read, and new ones would be made.
  [ -s "$RUN/secrets.env" ] || { log "no secrets file at $RUN/secrets.env: put the one from the key backup there first (README: Backups and restore)"; exit 1; }
  log "restoring base backup $base, then WAL up to ${pg_target:-the newest archived}"
  start_rabbitmq
  for s in $SERVICES; do service_running "$s" && had_services=yes; done
  stop_services
  # Every consumer must be gone before the queues are emptied: services run from elsewhere too.
  if [ -n "$(rabbitmqctl_cmd list_consumers -q --no-table-headers)" ]; then
    log "services elsewhere are still connected to RabbitMQ (rabbitmqctl list_consumers): stop them, then restore again"; exit 1
  fi
  stop_postgres
  if [ -e "$RUN/pg" ]; then
    local aside; aside=$RUN/pg.before-restore-$(date -u +%Y%m%dT%H%M%SZ)
    mv "$RUN/pg" "$aside"; log "the data folder that was there is kept as $aside (remove it once the restore is checked)"
  fi
  # A backup folder copied onto a new machine may belong to whoever copied it: restore_command runs as postgres.
  chown -R postgres: "$BACKUP_DIR/wal" 2>/dev/null \
    || log "WARNING: could not make $BACKUP_DIR/wal postgres's: recovery stops at the first segment it cannot read"
  cp -a "$BACKUP_DIR/base/$base/data" "$RUN/pg"
  chown -R postgres: "$RUN/pg"; chmod 700 "$RUN/pg"
  mkdir -p "$RUN/pgsock" "$RUN/log"; chown postgres: "$RUN/pgsock"
  write_pg_hba; write_archiving
  cat > "$RUN/pg/restore-target.conf" <<CONF
# Written by scripts/stack.sh restore; removed at PostgreSQL's next start (ignored outside recovery).
restore_command = 'f="$BACKUP_DIR/wal/%f.gz"; test -f "\$f" && gzip -dc "\$f" > "%p"'
recovery_target_timeline = 'latest'
recovery_target_action = 'promote'
${pg_target:+recovery_target_time = '$pg_target'}
CONF
  touch "$RUN/pg/recovery.signal"; chown postgres: "$RUN/pg/restore-target.conf" "$RUN/pg/recovery.signal"
  local log_from; log_from=$(( $(stat -c %s "$RUN/log/postgres.log" 2>/dev/null || echo 0) + 1 ))
  pg_ctl_start
  for _ in $(seq 3600); do
    pg_running || { log "PostgreSQL stopped while recovering (a TARGET after the newest archived WAL is never reached:"
                    log "TARGET=latest restores all of it):"; tail -n 20 "$RUN/log/postgres.log" >&2; exit 1; }
    [ "$(psql_q 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && break
    sleep 0.5
  done
  [ "$(psql_q 'SELECT pg_is_in_recovery()')" = f ] || { log "recovery did not end within 30 minutes; see $RUN/log/postgres.log"; exit 1; }
  local reached; reached=$(tail -c "+$log_from" "$RUN/log/postgres.log" | sed -n 's/.*last completed transaction was at log time \(.*\)$/\1/p' | tail -n 1)
  log "database recovered, $((SECONDS - started)) s after the restore began: the last transaction replayed committed at ${reached:-(none after the base backup)}"
  start_postgres
  # The restored moment, as checkpoint names write it; none replayed: the base backup's start.
  local moment=${pg_target:-$reached} cutoff=${base%Z}000000Z
  [ -n "$moment" ] && cutoff=$(date -u -d "$moment" +%Y%m%dT%H%M%S%6NZ)
  set_checkpoints_aside "$cutoff"
  republish
  log "restored in $((SECONDS - started)) s"
  if [ -n "$had_services" ]; then start_services; log "services started again"; else log "start the services: make up"; fi
}

# An audit checkpoint written after the restored moment anchors chain heads the database no longer has:
# `audit verify` would report those chains as rewritten. Such checkpoints are moved (never deleted)
# into a folder of their own, which verification does not read.
set_checkpoints_aside() {
  local cutoff=$1 dir=${AUDIT_CHECKPOINT_DIR:-$RUN/audit-checkpoints} moved=0 f name
  [ -d "$dir" ] || return 0
  local aside=$dir/after-restore-$(date -u +%Y%m%dT%H%M%SZ)
  for f in "$dir"/checkpoint-*.json; do
    [ -e "$f" ] || continue
    name=$(basename "$f"); name=${name#checkpoint-}; name=${name%%-*}
    [[ "$name" > "$cutoff" ]] || continue
    mkdir -p "$aside"
    if mv "$f" "$aside/"; then moved=$((moved + 1)); else
      log "WARNING: could not move $f aside (write-once storage?): audit verify will report the chains it anchors as rewritten; they were lost with the restore, not altered"
    fi
  done
  [ "$moved" -eq 0 ] || log "$moved audit checkpoint(s) written after the restored moment moved to $aside"
}

# The broker outlived the database: its queues may hold events the restored database never had, and
# events it had may have been consumed after the restored moment (their effects were lost with it).
# So the queues are emptied and every outbox relay publishes its store again from the start; each
# consumer drops what its inbox says it already applied, and applies the rest once.
republish() {
  purge_queues
  local s schema rewound
  for s in $SERVICES; do
    schema="${s^^}_POSTGRES_SCHEMA"; schema=${!schema:-$s}
    [ "$(psql_db "SELECT to_regclass('\"$schema\".positions') IS NOT NULL")" = t ] || continue
    rewound=$(psql_db "UPDATE \"$schema\".positions SET position = 0 WHERE follower = 'outbox' RETURNING 1" | wc -l)
    [ "$rewound" -eq 0 ] || log "$s: its outbox relay publishes its events again from the first"
  done
}

# Over AMQP, under a login made for it and removed after it: one rabbitmqctl per queue would take a
# second each.
purge_queues() {
  local queues; queues=$(rabbitmqctl_cmd list_queues -q --no-table-headers name)
  [ -n "$queues" ] || return 0
  local user=casetrail_restore password; password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  rabbitmqctl_cmd delete_user "$user" >/dev/null 2>&1 || true
  rabbitmqctl_cmd add_user "$user" "$password" >/dev/null
  rabbitmqctl_cmd set_permissions "$user" '' '' '.*' >/dev/null
  # shellcheck disable=SC2086
  RESTORE_AMQP_URI="pyamqp://$user:$password@127.0.0.1:$RABBITMQ_PORT/" "$VENV/bin/python" - $queues <<'PY' || { rabbitmqctl_cmd delete_user "$user" >/dev/null; exit 1; }
import os
import sys

from kombu import Connection

with Connection(os.environ["RESTORE_AMQP_URI"], connect_timeout=10) as connection:
    channel = connection.channel()
    dropped = sum(channel.queue_purge(queue) or 0 for queue in sys.argv[1:])
print(f"{len(sys.argv) - 1} queue(s) emptied: {dropped} message(s) dropped", file=sys.stderr)
PY
  rabbitmqctl_cmd delete_user "$user" >/dev/null
}

case "${1:-}" in
  install) install_packages; install_venv; install_node_tools ;;
  infra-start) start_postgres; start_rabbitmq ;;
  infra-stop) stop_rabbitmq; stop_postgres ;;
  monitoring-start) start_monitoring ;;  # needs PostgreSQL and RabbitMQ running
  monitoring-stop) stop_monitoring ;;
  postgres-start) start_postgres ;;
  postgres-stop) stop_postgres ;;
  rabbitmq-start) start_rabbitmq ;;
  rabbitmq-stop) stop_rabbitmq ;;
  rabbitmqctl) shift; rabbitmqctl_cmd "$@" ;;
  quarantine)  # events set aside by a follower or consumer (shared/quarantine_cli.py)
    shift; secrets; connect_as quarantine
    cd "$ROOT"; PSYCOPG_WAIT_FUNC=wait_select PYTHONPATH=$ROOT exec "$VENV/bin/python" -m shared.quarantine_cli "$@" ;;
  migrations)  # schema migrations (shared/migrations): status, upgrade; each service's schema under its own login
    shift; secrets; cd "$ROOT"
    for s in $SERVICES; do export "${s^^}_DB_USER=casetrail_$s"; done  # passwords: ${S}_DB_PASSWORD, from secrets
    PSYCOPG_WAIT_FUNC=wait_select PYTHONPATH=$ROOT exec "$VENV/bin/python" -m shared.migrations "$@" ;;
  audit)  # the audit CLI, with the cases service's settings and keys, under a database login of its own
    # Reads are recorded as the installation's operator identity (README: Audit), never a name typed here.
    shift; audit_cli "$@" ;;
  rotate-master-key)  # README "Keys: backup and rotation": a new CASES_MASTER_KEY (the old one retired, still
    # unwrapping), the cases service restarted with both (the only service that holds them), then every case
    # key re-wrapped. Stopped part-way: `make audit ARGS=rotate-master-key` resumes the re-wrap, no new key.
    service_running cases || { log "the cases service is not running: make up first"; exit 1; }
    secrets
    ( cd "$ROOT"; PYTHONPATH=$ROOT "$VENV/bin/python" -m services.cases.keyring new-master-key "$RUN/secrets.env" )
    stop_service cases; start_services
    audit_cli rotate-master-key --progress ;;
  up)
    install_packages; install_venv; start_postgres; start_rabbitmq; start_services; start_monitoring
    secrets
    echo "Casetrail is up: http://127.0.0.1:$GATEWAY_PORT (API contract: /v1/openapi.json)"
    echo "Web app: http://127.0.0.1:$GATEWAY_PORT/"
    echo "Prometheus: http://127.0.0.1:$PROMETHEUS_PORT (alerts: /alerts)"
    echo "Alertmanager: http://127.0.0.1:$ALERTMANAGER_PORT (alerts e-mailed to $ALERT_EMAIL_TO via $ALERT_SMTP_HOST:$ALERT_SMTP_PORT;" \
      "$([ -n "$ALERT_WEBHOOK_URL" ] && echo "and to the webhook" || echo "no webhook: set ALERT_WEBHOOK_URL")) (README: Alerts reach people)"
    echo "Admin: ${ADMIN_USERNAME:-admin} / ${ADMIN_PASSWORD:-admin-change-me}  (set ADMIN_PASSWORD before the first 'make up' to choose it)"
    echo "Logs: make logs · stop: make down" ;;
  down) stop_monitoring; stop_services; stop_rabbitmq; stop_postgres; echo "Casetrail is stopped." ;;
  backup) backup ;;
  restore) restore ;;
  status)
    pg_running && echo "postgres: running" || echo "postgres: stopped"
    if pg_running && [ "$(psql_q 'SHOW archive_mode')" = on ]; then
      archiving_failing && echo "wal archive: FAILING (see $RUN/log/postgres.log)" \
        || echo "wal archive: $(psql_q "SELECT coalesce(last_archived_wal || ' at ' || last_archived_time, 'nothing yet') FROM pg_stat_archiver")"
    fi
    echo "newest base backup: $(base_backups | tail -n 1 | grep . || echo none) (in $BACKUP_DIR/base)"
    rabbit_running && echo "rabbitmq: running" || echo "rabbitmq: stopped"
    for m in $MONITORS; do monitor_running "$m" && echo "$m: running" || echo "$m: stopped"; done
    for s in $SERVICES; do service_running "$s" && echo "$s: running" || echo "$s: stopped"; done ;;
  *) echo "usage: $0 install|infra-start|infra-stop|{postgres,rabbitmq,monitoring}-{start,stop}|up|down|status|rabbitmqctl ARGS|audit ARGS|rotate-master-key|quarantine ARGS|migrations ARGS|backup|restore [TARGET=time|latest]" >&2; exit 2 ;;
esac
