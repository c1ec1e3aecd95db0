"""Deployment files are checked by the tools that read them."""
import subprocess
from pathlib import Path

import compose
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "service.py").exists())


def test_docker_compose_file_is_valid_and_runs_every_service():
    binary = Path(compose.__file__).parent / "docker-compose"
    result = subprocess.run([str(binary), "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
                            capture_output=True, text=True, env={"HOME": "/tmp", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    assert set(SERVICES) <= set(config["services"])
    assert all(config["services"][s]["environment"]["SERVICE"] == s for s in SERVICES)
    published = config["services"]["gateway"]["ports"]
    assert all(p["host_ip"] == "127.0.0.1" for p in published)


def test_prometheus_scrapes_every_service():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    labelled = {t["labels"]["service"] for job in config["scrape_configs"] for t in job["static_configs"]}
    assert labelled == set(SERVICES)
