"""The Grafana dashboard and provisioning files only use metrics the services expose."""
import json
import re
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


def test_every_panel_queries_the_provisioned_datasource(dashboard):
    panels = graph_panels(dashboard)
    assert panels
    for panel in panels:
        assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == DATASOURCE_UID, panel["title"]


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
