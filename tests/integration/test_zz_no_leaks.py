"""Survivor data never reaches a service's log: checked last (this module's name sorts after every
other integration module), on the logs of the system every earlier test drove. A test of its own,
not a fixture teardown, so a leak fails the run instead of showing as an ERROR after "N passed"."""
from tests.integration.conftest import PLANTED


def test_no_planted_survivor_data_in_any_service_log(system, people):
    # Planted here too, so that the check has something to find when this module runs alone.
    case = people["cw1"].post("/v1/cases", {"survivor": {"name": "Wanjiru Secret", "phone": "+254700000002"},
                                            "risk_level": "high", "intake_notes": "threats from partner"})
    assert case.status_code == 201, case.text
    assert people["cw1"].get(f"/v1/cases/{case.json()['id']}").json()["survivor"]["name"] == "Wanjiru Secret"

    logs = {process.log_path.name: process.log_path.read_text(errors="replace") for process in system.values()}
    assert all(logs.values()), "a service wrote no log at all: the check would prove nothing"
    leaks = [(name, planted) for name, text in logs.items() for planted in PLANTED if planted in text]
    assert not leaks, f"survivor data in service logs: {leaks}"
