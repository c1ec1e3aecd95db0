"""The Grafana dashboard and provisioning files only use metrics the services expose."""
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy/grafana"
DATASOURCE_UID = "casetrail-prometheus"

COUNTERS = {
    "casetrail_commands_total", "casetrail_events_appended_total", "casetrail_events_published_total",
    "casetrail_follower_errors_total", "casetrail_events_consumed_total", "casetrail_rpc_errors_total",
    "casetrail_events_quarantined_total",
}
HISTOGRAMS = {
    "casetrail_command_duration_seconds", "casetrail_event_handler_duration_seconds",
    "casetrail_timer_duration_seconds", "casetrail_publish_duration_seconds",
    "casetrail_http_request_duration_seconds", "casetrail_approval_turnaround_seconds",
}
# Read from the database at scrape time: every instance of a service reports the same values.
STORE_GAUGES = {
    "casetrail_store_up", "casetrail_follower_lag_events", "casetrail_follower_position",
    "casetrail_consumer_queue_messages", "casetrail_consumer_count", "casetrail_open_cases",
    "casetrail_closed_cases", "casetrail_overdue_follow_ups", "casetrail_pending_approvals",
    "casetrail_oldest_pending_approval_seconds", "casetrail_referrals", "casetrail_deliveries_pending",
    "casetrail_unread_notifications", "casetrail_quarantined_events",
}
ALLOWED_METRICS = COUNTERS | HISTOGRAMS | STORE_GAUGES | {"up"}
REQUIRED_METRICS = {
    "casetrail_commands_total", "casetrail_follower_lag_events", "casetrail_consumer_queue_messages",
    "casetrail_rpc_errors_total", "casetrail_open_cases", "casetrail_pending_approvals",
    "casetrail_approval_turnaround_seconds", "casetrail_overdue_follow_ups", "casetrail_referrals",
    "casetrail_quarantined_events",
}
METRIC = re.compile(r"\b(casetrail_[a-z_]+|up)\b")


def base_name(name: str) -> str:
    stripped = re.sub(r"_(bucket|sum|count)$", "", name)
    return stripped if stripped in HISTOGRAMS else name


@pytest.fixture(scope="module")
def dashboard():
    return json.loads((GRAFANA / "dashboards/casetrail.json").read_text())


def all_panels(dashboard):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def graph_panels(dashboard):
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def exprs(dashboard):
    return [t["expr"] for p in graph_panels(dashboard) for t in p["targets"]]


def test_dashboard_identity(dashboard):
    assert dashboard["uid"] == "casetrail-overview"
    assert dashboard["title"] == "Casetrail"
    assert dashboard["schemaVersion"] == 39


def test_every_panel_queries_the_chosen_datasource(dashboard):
    """No data source uid is written in the dashboard: each panel and query uses the `datasource`
    variable (any Prometheus Grafana knows), so the dashboard imports into another Grafana as it is."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert {k: variables["datasource"][k] for k in ("type", "query")} == {"type": "datasource", "query": "prometheus"}
    assert DATASOURCE_UID not in json.dumps(dashboard)
    panels = graph_panels(dashboard)
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_every_query_is_narrowed_by_the_service_and_instance_variables(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in ("service", "instance"):
        variable = variables[name]
        assert variable["type"] == "query" and variable["datasource"]["uid"] == "${datasource}", name
        assert variable["includeAll"] and variable["multi"] and variable["allValue"] == ".*", name
        assert variable["query"]["query"].startswith('label_values(up{job="casetrail"'), name
        assert variable["query"]["query"].endswith(f", {name})"), name
    assert '$service' in variables["instance"]["query"]["query"]  # the instances of the chosen services
    for expr in exprs(dashboard):
        for selector in re.finditer(r"\b(casetrail_[a-z_]+|up)\b(\{[^}]*\})?", expr):
            assert 'service=~"$service"' in (selector.group(2) or "") and 'instance=~"$instance"' in selector.group(2), expr


def test_every_query_is_valid_promql(dashboard, tmp_path):
    """Each query, with Grafana's variables as it would fill them, as a recording rule promtool must parse."""
    rules = [{"record": f"dashboard:panel_{panel['id']}_{target['refId']}",
              "expr": target["expr"].replace("$__rate_interval", "1m")}
             for panel in graph_panels(dashboard) for target in panel["targets"]]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = subprocess.run(["promtool", "check", "rules", str(tmp_path / "dashboard.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_refused_commands_and_faults_are_apart(dashboard):
    """A caseworker's refusals (NotFound, Forbidden...) are everyday answers; faults need an operator."""
    titled = {p["title"]: [t["expr"] for t in p["targets"]] for p in graph_panels(dashboard)}
    assert all('kind="refused"' in e for e in titled["Refused commands"])
    assert all('kind="fault"' in e for e in titled["Command faults"])
    for expr in exprs(dashboard):
        assert 'outcome!="ok"' not in expr and not ('kind="refused"' in expr and 'kind="fault"' in expr), expr


def test_panels_are_grouped_in_rows(dashboard):
    assert dashboard["panels"][0]["type"] == "row"
    assert {p["type"] for p in graph_panels(dashboard)} == {"timeseries", "stat"}


def test_panel_ids_are_unique(dashboard):
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_only_exposed_metrics_are_queried(dashboard):
    used = {base_name(m) for e in exprs(dashboard) for m in METRIC.findall(e)}
    assert used <= ALLOWED_METRICS, used - ALLOWED_METRICS


def test_dashboard_covers_the_essentials(dashboard):
    used = {base_name(m) for e in exprs(dashboard) for m in METRIC.findall(e)}
    assert REQUIRED_METRICS <= used, REQUIRED_METRICS - used


def test_store_gauges_are_aggregated_with_max(dashboard):
    for expr in exprs(dashboard):
        for match in METRIC.finditer(expr):
            if match.group(1) in STORE_GAUGES:
                assert re.search(r"\bmax(\s+by\s*\([^)]*\))?\s*\(\s*$", expr[:match.start()]), expr


def test_counters_and_histograms_are_rated(dashboard):
    for expr in exprs(dashboard):
        for match in METRIC.finditer(expr):
            if match.group(1) in COUNTERS or base_name(match.group(1)) in HISTOGRAMS:
                assert re.search(r"\b(rate|increase)\(\s*$", expr[:match.start()]), expr


def test_datasource_provisioning():
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = config["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == DATASOURCE_UID
    assert source["url"] == "${PROMETHEUS_URL}"
    assert source["isDefault"] is True


def test_dashboard_provider_loads_the_mounted_folder():
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/casetrail.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
