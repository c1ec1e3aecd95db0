"""The OpenAPI document as a client developer meets it (issue 20): it validates (openapi-spec-validator),
passes the linter (Spectral, tools/openapi-lint), and a Python client generated from it by
openapi-python-client walks a case's journey through its typed API against the running system."""
import copy
import importlib
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from tests.support import PASSWORD, ROOT, wait_until

LINT = ROOT / "tools" / "openapi-lint"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def served(api) -> dict:
    response = api.get("/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def lint(document: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    spectral = LINT / "node_modules" / ".bin" / "spectral"
    assert spectral.exists(), "run `make install` (npm ci in tools/openapi-lint)"
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(document))
    return subprocess.run([str(spectral), "lint", "--fail-severity", "warn", "-r", str(LINT / ".spectral.yaml"),
                           str(path)], capture_output=True, text=True, timeout=300, cwd=LINT)


def test_the_served_document_validates_and_passes_the_linter(served, tmp_path):
    validate(served)
    passed = lint(served, tmp_path)
    assert passed.returncode == 0, passed.stdout[-4000:] + passed.stderr[-2000:]


def test_the_linter_refuses_an_operation_without_an_operation_id_a_tag_or_a_description(served, tmp_path):
    for field in ("operationId", "tags", "description"):
        broken = copy.deepcopy(served)
        del broken["paths"]["/v1/cases"]["post"][field]
        refused = lint(broken, tmp_path)
        assert refused.returncode != 0 and "/v1/cases" in refused.stdout, (field, refused.stdout[-2000:])


@pytest.fixture(scope="module")
def client_package(served, tmp_path_factory):
    """The package openapi-python-client generates from the served document, imported."""
    where = tmp_path_factory.mktemp("client")
    (where / "openapi.json").write_text(json.dumps(served))
    (where / "config.yaml").write_text("package_name_override: casetrail_client\n")
    generated = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", "openapi.json", "--output-path", "casetrail_client",
         "--meta", "none", "--config", "config.yaml"],
        capture_output=True, text=True, timeout=600, cwd=where, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert generated.returncode == 0 and "Warning" not in generated.stdout, generated.stdout + generated.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module("casetrail_client")
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name.startswith("casetrail_client")]:
            del sys.modules[name]


def test_a_generated_client_walks_a_case_journey(client_package, api, people):
    from casetrail_client import AuthenticatedClient, Client
    from casetrail_client.api.approvals import approval_queue, decide, set_approval_policy
    from casetrail_client.api.case_commands import assess, draft_plan, record_consent, record_follow_up, submit_plan
    from casetrail_client.api.cases import get_case, list_cases, register_case
    from casetrail_client.api.sessions_and_the_caller import token
    from casetrail_client.models import (
        ApprovalPolicyViewCasePlan,
        Assessment,
        AssessmentNeedsItem,
        Consent,
        ConsentGivenBy,
        Decision,
        DecisionDecision,
        FollowUp,
        Goal,
        GoalNeed,
        Plan,
        Policy,
        PolicyCasePlan,
        PolicyClosure,
        Problem,
        ProblemCode,
        RegisterCase,
        RegisterCaseRiskLevel,
        Survivor,
        TokenRequest,
    )
    from casetrail_client.types import UNSET, Unset

    def logged_in(username: str, password: str = PASSWORD) -> AuthenticatedClient:
        session = token.sync(client=Client(base_url=api.base), body=TokenRequest(username=username, password=password))
        return AuthenticatedClient(base_url=api.base, token=session.access_token)

    admin = AuthenticatedClient(base_url=api.base, token=people["admin"].token)
    cw1, sup1 = logged_in("cw1"), logged_in("sup1")
    policy = set_approval_policy.sync(client=admin, body=Policy(case_plan=PolicyCasePlan.ALWAYS,
                                                                closure=PolicyClosure.ALWAYS))
    assert policy.case_plan == ApprovalPolicyViewCasePlan.ALWAYS

    registered = register_case.sync_detailed(client=cw1, body=RegisterCase(
        survivor=Survivor(name="Client Journey"), risk_level=RegisterCaseRiskLevel.HIGH))
    assert registered.status_code == 201, registered.content
    case = registered.parsed
    assert registered.headers["ETag"] == f'"{case.version}"' and registered.headers["Location"].endswith(str(case.id))
    consent = record_consent.sync(case.id, client=cw1, body=Consent(
        services=True, share_with_providers=True, mandatory_reporting_explained=True, given_by=ConsentGivenBy.SURVIVOR))
    assert consent.services and not consent.withdrawn
    assess.sync(case.id, client=cw1, body=Assessment(needs=[AssessmentNeedsItem.MEDICAL], safety_concerns="Threats."))
    goal = Goal(need=GoalNeed.MEDICAL, action="Clinic visit.", responsible="cw1", due_date=date.today() + timedelta(7))
    drafted = draft_plan.sync(case.id, client=cw1, body=Plan(goals=[goal]))
    submitted = submit_plan.sync_detailed(case.id, client=cw1, if_match=f'"{drafted.version}"')
    assert submitted.status_code == 202 and submitted.parsed.plan.status.value == "submitted"

    def waiting():
        # The queue pages, oldest first: walk it as a client would, by next_cursor.
        found, cursor = [], UNSET
        while True:
            page = approval_queue.sync(client=sup1, limit=200, cursor=cursor)
            found += [item for item in page.items if item.case_id == case.id]
            if not page.next_cursor:
                return found
            cursor = page.next_cursor
    wait_until(waiting, what="the plan's approval request in the supervisor's queue")
    request = waiting()[0]
    assert request.status.value == "pending" and request.requested_by == "cw1"
    decided = decide.sync(request.id, client=sup1, body=Decision(decision=DecisionDecision.APPROVE, comment="Go."))
    assert decided.status.value == "approved" and decided.decided_by == "sup1"

    wait_until(lambda: get_case.sync(case.id, client=cw1).stage.value == "implementation",
               what="the approved plan to move the case to implementation")
    followed = record_follow_up.sync(case.id, client=cw1, body=FollowUp(
        contacted=True, contact_date=min(case.created_at + timedelta(seconds=1), datetime.now(UTC)), safety_reassessed=True))
    assert followed.follow_up.count == 1 and followed.follow_up.last_contact.contacted

    listed = list_cases.sync(client=cw1, limit=200)
    assert case.id in {item.id for item in listed.items}
    read = get_case.sync_detailed(case.id, client=cw1)
    file = read.parsed
    assert read.headers["ETag"] == f'"{file.version}"' and file.stage.value == "follow_up"
    assert file.survivor.name == "Client Journey" and file.consent.given_by.value == "survivor"
    assert file.plan.status.value == "approved" and file.plan.goals[0].due_date == goal.due_date
    assert file.assessment.needs[0].value == "medical" and isinstance(file.closure.reason, Unset)
    assert file.approvals[0].status.value == "approved" and file.follow_up.next_due is not None

    unknown = get_case.sync_detailed("00000000-0000-4000-8000-000000000000", client=cw1)
    assert unknown.status_code == 404 and isinstance(unknown.parsed, Problem)
    assert unknown.parsed.code == ProblemCode.NOT_FOUND
    assert unknown.parsed.type_ == "https://casetrail.example/problems/not_found"
    invalid = register_case.sync_detailed(client=cw1, body=RegisterCase(
        survivor=Survivor(name=""), risk_level=RegisterCaseRiskLevel.LOW))
    assert invalid.status_code == 422 and invalid.parsed.code == ProblemCode.VALIDATION
    assert "survivor.name" in invalid.parsed.errors.additional_properties
