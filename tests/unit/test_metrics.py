"""Metrics that hold when a service runs several worker processes behind one /metrics."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
from shared.metrics import COMMANDS
COMMANDS.labels("cases", "register_case", "ok").inc()
"""
SCRAPE = """
from prometheus_client.core import GaugeMetricFamily
from shared.metrics import StoreGauges, gauge, metrics_response
StoreGauges("cases", lambda: [gauge("casetrail_open_cases", "x", ["stage", "risk_level"],
                                    [("engagement", "high", 3)])]).register()
print(metrics_response().get_data(as_text=True))
"""


def run(code: str, multiproc_dir: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_counters_of_every_worker_process_add_up_and_database_gauges_are_served(tmp_path):
    run(WORKER, tmp_path)
    run(WORKER, tmp_path)
    scraped = run(SCRAPE, tmp_path)
    assert 'casetrail_commands_total{command="register_case",outcome="ok",service="cases"} 2.0' in scraped
    assert 'casetrail_open_cases{risk_level="high",stage="engagement"} 3.0' in scraped
    assert 'casetrail_store_up{service="cases"} 1.0' in scraped
