"""Where alerts go and what Prometheus scrapes, as shared/monitoring.py writes them for an installation:
checked by the tools that read them (amtool, promtool)."""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shared import monitoring

ROOT = Path(__file__).resolve().parents[2]


def render_alertmanager(tmp_path: Path, *options: str, webhook: str = "") -> Path:
    out, url = tmp_path / "am" / "alertmanager.yml", tmp_path / "webhook-url"
    url.write_text(webhook)
    assert monitoring.main(["alertmanager", "--out", str(out), "--email-to", "oncall@agency.example",
                            "--email-from", "casetrail@agency.example", "--smarthost", "127.0.0.1:25",
                            "--webhook-url-file", str(url), *options]) == 0
    return out


def amtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["amtool", *args], capture_output=True, text=True)


def receiver(config: Path, *labels: str) -> str:
    tested = amtool("config", "routes", "test", f"--config.file={config}", *labels)
    assert tested.returncode == 0, tested.stderr
    return tested.stdout.strip()


def test_critical_alerts_page_by_email_and_webhook_and_warnings_go_to_the_webhook(tmp_path):
    config = render_alertmanager(tmp_path, webhook="https://chat.example/hooks/T0K3N")
    checked = amtool("check-config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert receiver(config, "alertname=CasetrailServiceDown", "severity=critical", "service=cases") == "page"
    assert receiver(config, "alertname=CasetrailRpcErrors", "severity=warning") == "webhook"
    assert receiver(config, "alertname=Unlabelled") == "webhook"  # no alert falls through to nobody
    receivers = {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}
    page = receivers["page"]
    assert page["email_configs"][0]["to"] == "oncall@agency.example"
    assert page["webhook_configs"][0]["url"] == "https://chat.example/hooks/T0K3N"
    assert all(c["send_resolved"] for r in receivers.values() for kind in ("email_configs", "webhook_configs")
               for c in r.get(kind, []))
    assert config.stat().st_mode & 0o777 == 0o600  # the webhook's URL is a secret of its own


def test_without_a_webhook_every_alert_still_goes_by_email(tmp_path):
    config = render_alertmanager(tmp_path)
    assert amtool("check-config", str(config)).returncode == 0
    assert receiver(config, "severity=critical") == "page"
    assert receiver(config, "severity=warning") == "email"
    assert "webhook" not in config.read_text()


def test_the_smtp_password_is_named_never_written_and_tls_is_required_off_this_machine(tmp_path):
    password = tmp_path / "smtp-password"
    password.write_text("s3cret-smtp")
    config = render_alertmanager(tmp_path, "--smarthost", "smtp.agency.example:587", "--smtp-username", "alerts",
                                 "--smtp-password-file", str(password))
    assert amtool("check-config", str(config)).returncode == 0
    assert "s3cret-smtp" not in config.read_text()
    email = yaml.safe_load(config.read_text())["receivers"][0]["email_configs"][0]
    assert email["auth_password_file"] == str(password) and email["auth_username"] == "alerts"
    assert email["require_tls"] is True
    local = yaml.safe_load(render_alertmanager(tmp_path).read_text())["receivers"][0]["email_configs"][0]
    assert local["require_tls"] is False  # a local MTA (127.0.0.1:25) often offers no STARTTLS
    forced = render_alertmanager(tmp_path, "--require-tls", "true")
    assert yaml.safe_load(forced.read_text())["receivers"][0]["email_configs"][0]["require_tls"] is True


def test_a_service_down_inhibits_its_other_alerts_only():
    rules = monitoring.alertmanager_config("a@b", "c@d", "127.0.0.1:25")["inhibit_rules"]
    down = next(r for r in rules if r["source_matchers"] == ['alertname="CasetrailServiceDown"'])
    assert down["equal"] == ["service"]


def test_every_alert_an_inhibition_names_is_a_rule_and_none_holds_back_itself():
    """A rule renamed in alerts.yml would silently end an inhibition (or, as its target, let noise through)."""
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    for inhibition in monitoring.INHIBIT_RULES:
        source = inhibition["source_matchers"][0].removeprefix('alertname="').removesuffix('"')
        assert source in names, source
        targets = re.compile(inhibition["target_matchers"][0].removeprefix('alertname=~"').removesuffix('"'))
        assert inhibition["target_matchers"][1] == f'alertname!="{source}"'
        matched = {name for name in names if targets.fullmatch(name)} - {source}
        assert matched, source
        for alternative in targets.pattern.split("|"):
            assert any(re.fullmatch(alternative, name) for name in names), alternative


@pytest.mark.parametrize("option, value", [
    ("--email-to", "oncall@agency.example\nroute: {receiver: nobody}"),
    ("--email-to", "oncall@agency.example, "),
    ("--email-to", "Ops Desk"),
    ("--email-from", "casetrail@agency.example\x00"),
    ("--smarthost", "mail.agency.example"),
    ("--smarthost", "mail.agency.example:0"),
    ("--smarthost", "mail agency:25"),
])
def test_a_setting_alertmanager_would_refuse_stops_the_render_and_writes_nothing(tmp_path, option, value, capsys):
    out = tmp_path / "alertmanager.yml"
    given = {"--email-to": "oncall@agency.example", "--email-from": "casetrail@agency.example",
             "--smarthost": "127.0.0.1:25", option: value}
    with pytest.raises(SystemExit) as refused:
        monitoring.main(["alertmanager", "--out", str(out), *[part for pair in given.items() for part in pair]])
    assert refused.value.code == 2 and option in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("url", ["ftp://hooks.agency.example/x", "hooks.agency.example/x",
                                 "https://hooks.agency.example/x\n  evil: yes", "https:///no-host"])
def test_a_webhook_url_that_is_not_one_stops_the_render_without_showing_it(tmp_path, url, capsys):
    with pytest.raises(SystemExit) as refused:
        render_alertmanager(tmp_path, webhook=url)
    assert "ALERT_WEBHOOK_URL must be" in str(refused.value.code) and url not in str(refused.value.code)
    assert not (tmp_path / "am" / "alertmanager.yml").exists()


def test_several_addresses_and_an_ipv6_mail_server_are_taken(tmp_path):
    out = tmp_path / "alertmanager.yml"
    assert monitoring.main(["alertmanager", "--out", str(out), "--email-to", "a@agency.example,b@agency.example",
                            "--email-from", "casetrail@agency.example", "--smarthost", "[::1]:25"]) == 0
    checked = amtool("check-config", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "a@agency.example, b@agency.example" in out.read_text()



@pytest.mark.parametrize("value,expected", [("auto", None), ("", None), ("true", True), ("False", False)])
def test_require_tls_flag(value, expected):
    assert monitoring.flag(value) is expected


def test_prometheus_config_follows_the_installations_ports_and_passes_promtool(tmp_path):
    out = tmp_path / "prometheus.yml"
    assert monitoring.main(["prometheus", "--config", str(ROOT / "deploy/prometheus/prometheus.yml"),
                            "--out", str(out), "--port", "cases=19101", "--port", "gateway=18000",
                            "--port", "postgres=19187", "--port", "rabbitmq=25692", "--port", "node=19100",
                            "--alertmanager", "127.0.0.1:19093"]) == 0
    config = yaml.safe_load(out.read_text())
    targets = {g.get("labels", {}).get("service", job["job_name"]): g["targets"]
               for job in config["scrape_configs"] for g in job["static_configs"]}
    assert targets["cases"] == ["127.0.0.1:19101"] and targets["gateway"] == ["127.0.0.1:18000"]
    assert targets["referrals"] == ["127.0.0.1:9102"]  # not given: as committed
    assert (targets["postgres"], targets["rabbitmq"], targets["node"]) == (
        ["127.0.0.1:19187"], ["127.0.0.1:25692"], ["127.0.0.1:19100"])
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    checked = subprocess.run(["promtool", "check", "config", str(out)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr  # the rule files found from the run folder


def test_compose_runs_alertmanager_on_loopback_with_a_config_written_by_the_same_code():
    from tests.unit.test_deploy import compose_config
    services = compose_config()["services"]
    alertmanager = services["alertmanager"]
    assert alertmanager["image"] == "prom/alertmanager:v0.25.0"
    assert all(p["host_ip"] == "127.0.0.1" for p in alertmanager["ports"])
    assert "--cluster.listen-address=" in alertmanager["command"]  # no gossip port on every interface
    assert alertmanager["depends_on"]["alertmanager-config"]["condition"] == "service_completed_successfully"
    assert services["alertmanager-config"]["command"] == ["alertmanager-config"]
    entrypoint = (ROOT / "scripts/container-entrypoint.sh").read_text()
    assert "python -m shared.monitoring alertmanager" in entrypoint
