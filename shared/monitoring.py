"""The monitoring configs of an installation, written from the committed ones and its settings:

- `alertmanager`: where alerts go (README, "Alerts reach people"). Alertmanager does not expand
  environment variables, so the routing tree lives here and each installation gets its own file:
  critical alerts page (e-mail and the webhook), warnings go to the webhook (to e-mail when there is
  none: an alert must reach someone). The SMTP password is never in the file: it names a file.
- `prometheus`: deploy/prometheus/prometheus.yml with the ports `make up` was given, its rule files
  by absolute path and the Alertmanager it sends to.

scripts/stack.sh runs both at every start; the compose setup and the tests render with the same code."""
import argparse
import ipaddress
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no types, and types-PyYAML is not installed

# Every alert of one kind from one service is one notification; a page waits less than a warning.
GROUP_BY = ["alertname", "service"]
# Jobs that scrape another job's target on another path: they follow its port.
SAME_TARGET = {"rabbitmq_queues": "rabbitmq"}


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def inhibit(source: str, targets: str, equal: list[str]) -> dict[str, Any]:
    """`source` firing holds back the alerts named by `targets` (a regular expression), never itself."""
    return {"source_matchers": [f'alertname="{source}"'],
            "target_matchers": [f'alertname=~"{targets}"', f'alertname!="{source}"'], "equal": equal}


# While the cause pages, what follows from it is held back (deploy/prometheus/alerts.yml names them all).
INHIBIT_RULES = [
    # A service that does not answer: its other alerts say nothing more.
    inhibit("CasetrailServiceDown", "Casetrail.*", ["service"]),
    # A service that cannot reach its database: its relay and consumers falling behind follow from it.
    inhibit("CasetrailDatabaseUnreachable",
            "CasetrailOutboxLagGrowing|CasetrailConsumerLagGrowing|CasetrailFollowerFailing", ["service"]),
    # PostgreSQL down (one per installation): every service's database unreachable, and what follows.
    inhibit("CasetrailPostgresDown", "CasetrailDatabaseUnreachable|CasetrailOutboxLagGrowing|CasetrailFollowerFailing"
            "|CasetrailConsumerLagGrowing|CasetrailPostgresConnections.*", []),
    # The page that a warning was the early sign of.
    inhibit("CasetrailDiskAlmostFull", "CasetrailDiskFillingUp", ["instance", "mountpoint"]),
    inhibit("CasetrailPostgresConnectionsExhausted", "CasetrailPostgresConnectionsNearLimit", ["instance"]),
    inhibit("CasetrailCertificateExpiring", "CasetrailCertificateExpiresSoon", ["instance"]),
]


def alertmanager_config(email_to: str, email_from: str, smarthost: str, *, smtp_username: str = "",
                        smtp_password_file: str = "", require_tls: bool | None = None, webhook_url: str = "",
                        group_wait: str = "30s", group_interval: str = "5m", repeat_interval: str = "4h",
                        page_repeat_interval: str = "1h") -> dict[str, Any]:
    """The Alertmanager configuration. `require_tls` None: STARTTLS is required unless the smarthost is
    this machine (a local MTA often offers none; anything farther must not see alerts in clear)."""
    host = smarthost.rsplit(":", 1)[0]
    email: dict[str, Any] = {"to": email_to, "from": email_from, "smarthost": smarthost, "send_resolved": True,
                             "require_tls": (not is_loopback(host)) if require_tls is None else require_tls}
    if smtp_username:
        email["auth_username"] = smtp_username
    if smtp_password_file:
        email["auth_password_file"] = smtp_password_file
    receivers: list[dict[str, Any]] = [{"name": "page", "email_configs": [email]}]
    if webhook_url:
        webhook = {"url": webhook_url, "send_resolved": True}
        receivers[0]["webhook_configs"] = [dict(webhook)]
        receivers.append({"name": "webhook", "webhook_configs": [webhook]})
        others = "webhook"
    else:
        # Without a webhook, warnings go by e-mail, fewer and later than pages: a digest per kind of alert.
        receivers.append({"name": "email", "email_configs": [dict(email)]})
        others = "email"
    timing = {"group_wait": group_wait, "group_interval": group_interval, "repeat_interval": repeat_interval}
    return {
        "route": {"receiver": others, "group_by": GROUP_BY, **timing, "routes": [
            {"matchers": ['severity="critical"'], "receiver": "page", "repeat_interval": page_repeat_interval},
            # warning, and any other severity a rule may name: never dropped.
        ]},
        "inhibit_rules": INHIBIT_RULES,
        "receivers": receivers,
    }


def prometheus_config(committed: Path, ports: dict[str, int], alertmanager: str) -> dict[str, Any]:
    """`committed` (deploy/prometheus/prometheus.yml) with each target's port replaced by the port of the
    service it is labelled with (job casetrail) or of its job (postgres, rabbitmq, node), rule files by
    absolute path, and alerts sent to `alertmanager` (host:port)."""
    config = yaml.safe_load(committed.read_text())
    config["rule_files"] = [str((committed.parent / f).resolve()) for f in config.get("rule_files", [])]
    for job in config["scrape_configs"]:
        for group in job.get("static_configs", []):
            name = group.get("labels", {}).get("service", SAME_TARGET.get(job["job_name"], job["job_name"]))
            if name in ports:
                group["targets"] = [f"{t.rsplit(':', 1)[0]}:{ports[name]}" for t in group["targets"]]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def write_private(path: Path, text: str) -> None:
    """Only its owner may read it (a webhook URL is often a secret of its own)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(text)


def flag(value: str) -> bool | None:
    if value in ("", "auto"):
        return None
    if value.lower() in ("true", "yes", "1", "on"):
        return True
    if value.lower() in ("false", "no", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"true, false or auto, not {value!r}")


ADDRESS = re.compile(r"[^\s\x00-\x1f\x7f@<>,;\"']+@[^\s\x00-\x1f\x7f@<>,;\"']+")
HOST_PORT = re.compile(r"[A-Za-z0-9.\-]+:(\d{1,5})|\[[0-9A-Fa-f:.]+\]:(\d{1,5})")


def addresses(value: str) -> str:
    """One e-mail address, or several separated by commas (ALERT_EMAIL_TO, ALERT_EMAIL_FROM): nothing that
    would make a config Alertmanager refuses, so a bad setting stops `make up` here with its name."""
    parts = [part.strip() for part in value.split(",")]
    if not all(ADDRESS.fullmatch(part) for part in parts):
        raise argparse.ArgumentTypeError(f"not an e-mail address (or a comma-separated list of them): {value!r}")
    return ", ".join(parts)


def host_port(value: str) -> str:
    match = HOST_PORT.fullmatch(value)
    if not match or not 0 < int(match[1] or match[2]) < 65536:
        raise argparse.ArgumentTypeError(f"not host:port (ALERT_SMTP_HOST, ALERT_SMTP_PORT): {value!r}")
    return value


def webhook_url(value: str) -> str:
    """The webhook's URL, never echoed (it often carries a token of its own)."""
    parts = urllib.parse.urlsplit(value)
    if value and (parts.scheme not in ("http", "https") or not parts.hostname
                  or any(c.isspace() or not c.isprintable() for c in value)):
        raise SystemExit("ALERT_WEBHOOK_URL must be an http:// or https:// URL (without spaces or control characters)")
    return value


def port_of(value: str) -> tuple[str, int]:
    name, _, port = value.partition("=")
    return name, int(port)


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m shared.monitoring", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    am = commands.add_parser("alertmanager", help="write Alertmanager's configuration (mode 600)")
    am.add_argument("--out", type=Path, required=True)
    am.add_argument("--email-to", type=addresses, required=True)
    am.add_argument("--email-from", type=addresses, required=True)
    am.add_argument("--smarthost", type=host_port, required=True, help="the SMTP server, host:port")
    am.add_argument("--smtp-username", default="")
    am.add_argument("--smtp-password-file", default="", help="a file holding the SMTP password (named, not read)")
    am.add_argument("--require-tls", type=flag, default=None, help="true, false or auto (not on loopback)")
    am.add_argument("--webhook-url-file", type=Path,
                    help="a file holding the webhook's URL (read: kept off command lines); empty: no webhook")
    for option, default in (("group-wait", "30s"), ("group-interval", "5m"), ("repeat-interval", "4h"),
                            ("page-repeat-interval", "1h")):
        am.add_argument(f"--{option}", default=default)
    prom = commands.add_parser("prometheus", help="write Prometheus's configuration for this installation's ports")
    prom.add_argument("--config", type=Path, required=True, help="the committed prometheus.yml")
    prom.add_argument("--out", type=Path, required=True)
    prom.add_argument("--port", type=port_of, action="append", default=[], metavar="NAME=PORT",
                      help="a service's (by its label) or a job's port")
    prom.add_argument("--alertmanager", required=True, help="host:port")
    args = top.parse_args(argv)
    if args.command == "prometheus":
        config = prometheus_config(args.config, dict(args.port), args.alertmanager)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(yaml.safe_dump(config, sort_keys=False))
        return 0
    webhook = webhook_url(args.webhook_url_file.read_text().strip() if args.webhook_url_file else "")
    config = alertmanager_config(
        args.email_to, args.email_from, args.smarthost, smtp_username=args.smtp_username,
        smtp_password_file=args.smtp_password_file, require_tls=args.require_tls, webhook_url=webhook,
        group_wait=args.group_wait, group_interval=args.group_interval, repeat_interval=args.repeat_interval,
        page_repeat_interval=args.page_repeat_interval)
    write_private(args.out, "# Written by `python -m shared.monitoring alertmanager`: change the settings, not this.\n"
                  + yaml.safe_dump(config, sort_keys=False))
    if not webhook:
        print("no alert webhook (ALERT_WEBHOOK_URL): warnings go by e-mail too", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
