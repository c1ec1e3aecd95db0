"""The Kubernetes manifests are valid against the API schemas and run every service safely."""
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared.secrets import generate

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "service.py").exists())
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
DOCS = [(p.name, doc) for p in MANIFESTS for doc in yaml.safe_load_all(p.read_text()) if doc]
SECRET_KEYS = set(generate()) | {"POSTGRES_PASSWORD", "AMQP_URI", "POSTGRES_SUPERUSER_PASSWORD"}


def of_kind(kind):
    return {doc["metadata"]["name"]: doc for _, doc in DOCS if doc["kind"] == kind}


@pytest.mark.parametrize("name, doc", DOCS, ids=[f"{n}:{d['kind']}/{d['metadata']['name']}" for n, d in DOCS])
def test_manifest_is_valid_kubernetes(name, doc):
    # Strict: a misspelt or misplaced field fails here instead of being dropped by the API server.
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_every_service_has_a_deployment_with_probes_and_a_service():
    deployments, services = of_kind("Deployment"), of_kind("Service")
    for name in SERVICES:
        spec = deployments[name]["spec"]
        assert spec["replicas"] >= 2, name
        pod = spec["template"]
        [container] = pod["spec"]["containers"]
        assert {"name": "SERVICE", "value": name} in container["env"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            get = container[probe]["httpGet"]
            assert get["path"] == "/health" and ports.get(get["port"], get["port"]) == 8000, (name, probe)
        service = services[name]["spec"]
        assert service["selector"].items() <= pod["metadata"]["labels"].items(), name
        assert any(p["port"] == 8000 and ports.get(p["targetPort"], p["targetPort"]) == 8000 for p in service["ports"])


def test_pods_are_hardened_scraped_and_covered_by_a_disruption_budget():
    budgets = [b["spec"]["selector"]["matchLabels"] for b in of_kind("PodDisruptionBudget").values()]
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true", name
        assert any(b.items() <= pod["metadata"]["labels"].items() for b in budgets), name
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["spec"]["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"], name
            assert context["capabilities"]["drop"] == ["ALL"], name


def test_each_workload_takes_the_shared_config_its_own_secret_alone_and_the_ca():
    """Least privilege as with `make up`: no pod holds another service's secret (issue 17)."""
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    assert set(workloads) == {*SERVICES, "provision"}
    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        [container] = pod["containers"]
        sources = container["envFrom"]
        assert {"configMapRef": {"name": "casetrail-config"}} in sources, name
        assert [s["secretRef"]["name"] for s in sources if "secretRef" in s] == [f"casetrail-{name}"], name
        assert {m["name"]: m["mountPath"] for m in container["volumeMounts"]}["ca"] == "/etc/casetrail/tls", name
        assert {v["name"]: v.get("configMap", {}).get("name") for v in pod["volumes"]}["ca"] == "casetrail-ca", name
        assert pod["automountServiceAccountToken"] is False, name


def test_the_services_reach_both_servers_over_verified_tls():
    data = of_kind("ConfigMap")["casetrail-config"]["data"]
    assert data["PGSSLMODE"] == "verify-full"
    assert data["PGSSLROOTCERT"] == data["AMQP_CA_FILE"] == "/etc/casetrail/tls/ca.crt"
    assert "POSTGRES_USER" not in data  # each service's own role, in its own Secret


def test_no_secret_value_is_committed():
    assert not [d for _, d in DOCS if d["kind"] == "Secret" and (d.get("data") or d.get("stringData"))]
    for config in of_kind("ConfigMap").values():
        assert not SECRET_KEYS & set(config.get("data", {})), config["metadata"]["name"]
    for deployment in of_kind("Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert not [e for e in container.get("env", []) if e["name"] in SECRET_KEYS and "value" in e]


def test_the_gateway_ingress_requires_tls():
    [ingress] = of_kind("Ingress").values()
    assert ingress["spec"]["tls"] and all(t.get("secretName") for t in ingress["spec"]["tls"])
    gateway_ports = {p["name"] for p in of_kind("Service")["gateway"]["spec"]["ports"]} | {8000}
    for backend in (p["backend"]["service"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]):
        assert backend["name"] == "gateway" and set(backend["port"].values()) <= gateway_ports, backend


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "casetrail"
    assert sorted(kustomization["resources"]) == sorted(p.name for p in MANIFESTS)


def routed(ingress, path: str) -> bool:
    """Whether an Ingress sends `path` to a backend, as Kubernetes defines its path types: Exact is the
    whole path; Prefix matches whole elements of the path split by "/" (so /v1/ takes /v1 and /v1/cases,
    never /v1x); ImplementationSpecific is unknown, so it counts as routing everything."""
    elements = [e for e in path.split("/") if e]
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            prefix = [e for e in entry["path"].split("/") if e]
            kind = entry["pathType"]
            if (kind == "ImplementationSpecific" or (kind == "Exact" and entry["path"] == path)
                    or (kind == "Prefix" and elements[:len(prefix)] == prefix)):
                return True
    return "defaultBackend" in ingress["spec"]


def test_the_ingress_routes_what_clients_need_and_never_metrics():
    [ingress] = of_kind("Ingress").values()
    for path in ("/", "/app/main.js", "/app/i18n/en.json", "/v1/cases", "/v1/users/me", "/health"):
        assert routed(ingress, path), path
    for path in ("/metrics", "/metrics/", "/metrics/x", "/healthz", "/v1x", "/appx"):
        assert not routed(ingress, path), path


def test_routed_knows_a_catch_all_when_it_sees_one():
    catch_all = {"spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}]}}
    assert routed(catch_all, "/metrics")


def selects(selector: dict, labels: dict) -> bool:
    """A label selector (matchLabels and matchExpressions with In, NotIn, Exists, DoesNotExist)."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if not {"In": lambda: labels.get(key) in values, "NotIn": lambda: labels.get(key) not in values,
                "Exists": lambda: key in labels, "DoesNotExist": lambda: key not in labels}[operator]():
            return False
    return True


def pod_labels():
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    return {name: w["spec"]["template"]["metadata"]["labels"] for name, w in workloads.items()}


def test_every_pod_takes_no_connection_but_those_a_policy_allows():
    policies = of_kind("NetworkPolicy").values()
    [deny] = [p for p in policies if p["spec"]["podSelector"] == {}]
    assert deny["spec"]["policyTypes"] == ["Ingress"] and not deny["spec"].get("ingress")
    for name, labels in pod_labels().items():
        assert any(selects(p["spec"]["podSelector"], labels) for p in policies), name


def test_only_the_gateway_is_reachable_from_outside_and_metrics_only_from_prometheus():
    labels = pod_labels()
    for policy in of_kind("NetworkPolicy").values():
        selected = {name for name, pod in labels.items() if selects(policy["spec"]["podSelector"], pod)}
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from") and rule.get("ports"), policy["metadata"]["name"]  # never "from anywhere"
            assert [p["port"] for p in rule["ports"]] == ["http"], policy["metadata"]["name"]
            for peer in rule["from"]:
                assert "ipBlock" not in peer and "namespaceSelector" in peer and "podSelector" in peer, peer
                namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                assert namespace != "casetrail", policy["metadata"]["name"]  # no pod-to-pod traffic is needed
                if namespace == "monitoring":
                    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
                    assert selected == set(SERVICES), policy["metadata"]["name"]
                else:
                    assert selected == {"gateway"}, policy["metadata"]["name"]
    for name in SERVICES:  # the port the policies open is the one the Service and the probes use
        [container] = of_kind("Deployment")[name]["spec"]["template"]["spec"]["containers"]
        assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8000}, name
