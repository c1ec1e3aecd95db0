"""Deployment files are checked by the tools that read them."""
import json
import re
import socket
import subprocess
import time
from pathlib import Path

import compose
import pytest
import requests
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "service.py").exists())


def compose_config() -> dict:
    """docker-compose.yml as docker compose itself reads it (anchors and merges resolved)."""
    binary = Path(compose.__file__).parent / "docker-compose"
    result = subprocess.run([str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                            capture_output=True, text=True, env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_file_is_valid_and_runs_every_service():
    config = compose_config()
    assert set(SERVICES) <= set(config["services"])
    assert all(config["services"][s]["environment"]["SERVICE"] == s for s in SERVICES)
    published = config["services"]["gateway"]["ports"]
    assert all(p["host_ip"] == "127.0.0.1" for p in published)


def test_prometheus_scrapes_every_service():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    labelled = {t["labels"]["service"] for job in config["scrape_configs"] if job["job_name"] == "casetrail"
                for t in job["static_configs"]}
    assert labelled == set(SERVICES)
    # and the servers under them, by the job names the alert rules use
    assert {"postgres", "rabbitmq", "node"} <= {job["job_name"] for job in config["scrape_configs"]}


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=ROOT / "deploy/prometheus", capture_output=True, text=True)


def kubernetes_config(pods_file: Path) -> dict:
    """kubernetes.yml with its pod discovery replaced by a file of discovered pods: Debian's Prometheus
    is built without Kubernetes discovery, and this way the rest is checked by Prometheus itself."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/kubernetes.yml").read_text())
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            assert job.pop("kubernetes_sd_configs") == [{"role": "pod", "namespaces": {"names": ["casetrail"]}}]
            job["file_sd_configs"] = [{"files": [str(pods_file)]}]
    config["rule_files"] = [str(ROOT / "deploy/prometheus" / name) for name in config["rule_files"]]
    return config


def test_prometheus_configs_and_alert_rules_pass_promtool(tmp_path):
    (tmp_path / "kubernetes.yml").write_text(yaml.safe_dump(kubernetes_config(tmp_path / "pods.json")))
    for config in ("prometheus.yml", "compose.yml", str(tmp_path / "kubernetes.yml")):
        checked = promtool("check", "config", config)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = promtool("check", "rules", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_alerts_fire_when_they_should_and_not_otherwise():
    """deploy/prometheus/tests/alerts_test.yml: a service down, an approval waiting 48 h, a quarantined event,
    an outbox falling behind (and a projection whose lag comes and goes, which must not alert);
    infrastructure_test.yml: a service's pods all gone, command faults (not refusals), PostgreSQL's connections
    and replication, disks filling, RabbitMQ's alarms and queues, certificates expiring, exporters missing."""
    tested = promtool("test", "rules", "tests/alerts_test.yml", "tests/infrastructure_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_the_operations_issue_names_exists():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {"CasetrailOverdueFollowUpsRising", "CasetrailApprovalsPendingTooLong", "CasetrailOutboxLagGrowing",
            "CasetrailConsumerLagGrowing", "CasetrailEventsQuarantined", "CasetrailServiceDown"} <= names


def test_every_alert_is_tested_and_carries_what_an_operator_needs():
    rules = [rule for group in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
             for rule in group["rules"]]
    tested = {case["alertname"] for name in ("alerts_test.yml", "infrastructure_test.yml")
              for test in yaml.safe_load((ROOT / "deploy/prometheus/tests" / name).read_text())["tests"]
              for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    infrastructure = {rule["alert"] for rule in rules
                      if rule["alert"] not in {"CasetrailDatabaseUnreachable", "CasetrailGatewayErrors",
                                               "CasetrailRpcErrors", "CasetrailConsumerLagGrowing",
                                               "CasetrailFollowerFailing", "CasetrailOverdueFollowUpsRising"}}
    assert infrastructure <= tested, infrastructure - tested  # the older alerts above predate this rule
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_missing_services_alert_in_kubernetes_but_not_where_every_service_is_configured():
    """absent() fires when no target of a service is left, which under `make up`/compose (static targets) never
    happens: every service the rules look for is one those configs scrape."""
    rule = next(r for g in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
                for r in g["rules"] if r["alert"] == "CasetrailServiceMissing")
    assert set(re.findall(r'absent\(up\{job="casetrail", service="(\w+)"\}\)', rule["expr"])) == set(SERVICES)


def test_compose_runs_prometheus_and_grafana_on_loopback_with_the_repository_configs():
    services = compose_config()["services"]
    for name in ("prometheus", "grafana"):
        assert all(p["host_ip"] == "127.0.0.1" for p in services[name]["ports"]), name
    mounted = {v["source"] for v in services["grafana"]["volumes"]}
    assert {str(ROOT / "deploy/grafana/provisioning"), str(ROOT / "deploy/grafana/dashboards")} <= mounted
    assert all("healthcheck" in services[s] for s in SERVICES)


def discovered_pods() -> list[dict]:
    """What Kubernetes' pod discovery gives for deploy/k8s's pods: a target per declared container port,
    with the pod's labels, annotations and phase (the provision Job's pod has finished)."""
    manifests = [d for p in sorted((ROOT / "deploy/k8s").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
                 if d and d["kind"] in ("Deployment", "Job")]
    found = []
    for number, manifest in enumerate(manifests):
        pod = manifest["spec"]["template"]
        name, ip = f"{manifest['metadata']['name']}-7d9f-{number}", f"10.1.0.{number + 1}"
        meta = {"__meta_kubernetes_namespace": "casetrail", "__meta_kubernetes_pod_name": name,
                "__meta_kubernetes_pod_ip": ip,
                "__meta_kubernetes_pod_phase": "Succeeded" if manifest["kind"] == "Job" else "Running"}
        meta |= {"__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
                 for k, v in pod["metadata"]["labels"].items()}
        meta |= {"__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9_]", "_", k): v
                 for k, v in pod["metadata"].get("annotations", {}).items()}
        ports = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])] or [None]
        for port in [*ports, 9999]:  # and a port the annotation does not name
            target = f"{ip}:{port}" if port else ip
            found.append({"targets": [target], "labels": {**meta, "__meta_kubernetes_pod_container_port_number":
                                                          str(port or "")}})
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus_targets(tmp_path):
    """Runs Prometheus on kubernetes.yml's relabelling over deploy/k8s's pods; gives its targets."""
    pods = discovered_pods()
    (tmp_path / "pods.json").write_text(json.dumps(pods))
    config = kubernetes_config(tmp_path / "pods.json")
    config["scrape_configs"] = [j for j in config["scrape_configs"] if "file_sd_configs" in j]
    config["global"]["scrape_interval"] = "1h"
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    server = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                data = requests.get(f"http://127.0.0.1:{port}/api/v1/targets?state=any", timeout=2).json()["data"]
                if len(data["activeTargets"]) + len(data["droppedTargets"]) == len(pods):
                    yield data
                    return
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not discover the pods"
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(10)


def test_kubernetes_relabelling_gives_the_labels_the_rules_and_dashboard_use(prometheus_targets):
    """job="casetrail", service=<component>, instance=<pod>, nothing else; one target per service pod, on
    the annotated port and path; the finished provision pod and undeclared ports dropped."""
    active = prometheus_targets["activeTargets"]
    assert sorted(t["labels"]["service"] for t in active) == SERVICES
    for target in active:
        discovered = target["discoveredLabels"]
        assert target["labels"] == {"job": "casetrail", "service": discovered[
            "__meta_kubernetes_pod_label_app_kubernetes_io_component"],
            "instance": discovered["__meta_kubernetes_pod_name"]}
        assert target["scrapeUrl"] == f"http://{discovered['__meta_kubernetes_pod_ip']}:8000/metrics"
