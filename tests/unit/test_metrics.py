"""Metrics that hold when a service runs several worker processes behind one /metrics."""
import os
import subprocess
import sys
from pathlib import Path

import eventlet.timeout
import pytest
from nameko.exceptions import RemoteError

from shared import errors
from shared.metrics import outcome_kind

ROOT = Path(__file__).resolve().parents[2]

WORKER = """
from shared.metrics import COMMANDS
COMMANDS.labels("cases", "register_case", "ok", "ok").inc()
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
    assert 'casetrail_commands_total{command="register_case",kind="ok",outcome="ok",service="cases"} 2.0' in scraped
    assert 'casetrail_open_cases{risk_level="high",stage="engagement"} 3.0' in scraped
    assert 'casetrail_store_up{service="cases"} 1.0' in scraped


@pytest.mark.parametrize("error", errors.REFUSALS)
def test_a_domain_error_is_a_refusal(error):
    """A caseworker's refused command (not found, forbidden, invalid...) is no fault for an operator."""
    assert outcome_kind(error) == "refused"


@pytest.mark.parametrize("error", [errors.ServiceUnavailable, eventlet.timeout.Timeout, RemoteError, KeyError,
                                   RuntimeError, errors.CasetrailError])
def test_anything_else_is_a_fault(error):
    assert outcome_kind(error) == "fault"


def test_every_expected_error_is_classed():
    """A new domain error must be added to REFUSALS (or be a fault on purpose, as ServiceUnavailable)."""
    declared = {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.CasetrailError)}
    assert declared == {errors.CasetrailError, *errors.EXPECTED}
    assert outcome_kind(None) == "ok"
