"""README claims that no other test proved, each through the running system (the gateway, the
services' own stores, their processes)."""
import uuid
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.support import PASSWORD, ServiceProcess, database, service_env, wait_until

CONSENT_NOT_TO_SHARE = {"services": True, "share_with_providers": False, "mandatory_reporting_explained": True,
                        "given_by": "survivor"}


def test_every_response_carries_a_correlation_id_echoed_when_sent_generated_otherwise(api, people):
    sent = f"test-{uuid.uuid4()}"
    for who, path in ((api, "/v1/cases"), (people["cw1"], "/v1/cases"), (people["cw1"], "/v1/no-such-route"),
                      (people["cw1"], "/v1/users/me")):
        echoed = who.get(path, headers={"X-Correlation-Id": sent})
        assert echoed.headers["X-Correlation-Id"] == sent, (path, echoed.status_code)
        generated = [who.get(path).headers.get("X-Correlation-Id") for _ in range(2)]
        assert all(generated) and generated[0] != generated[1] and sent not in generated, (path, generated)


def test_passwords_are_stored_as_argon2_hashes(people, test_env):
    from services.gateway.application import Identity
    store = Identity(Settings.for_service("gateway"))
    try:
        user = store.user("cw1")
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash
        assert store.hasher.verify(user.password_hash, PASSWORD)
    finally:
        store.close()
    with database(test_env) as conn:  # and nothing in the gateway's tables holds the password as text
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'gateway'"
                              ).fetchall()
        for (table,) in tables:
            text = str(conn.execute(f'SELECT * FROM gateway."{table}"').fetchall())
            assert PASSWORD not in text, table


def test_a_referral_is_refused_when_consent_does_not_allow_sharing_with_providers(people, pathway, test_env):
    cw1 = people["cw1"]
    case = cw1.post("/v1/cases", {"survivor": {"name": "Amina"}, "risk_level": "medium"}).json()
    assert cw1.post(f"/v1/cases/{case['id']}/consent", CONSENT_NOT_TO_SHARE).status_code == 201

    def known() -> bool:  # the referrals service has heard of this consent
        with database(test_env) as conn:
            return conn.execute("SELECT share_with_providers FROM referrals.consent WHERE case_id = %s",
                                (case["id"],)).fetchone() == (False,)
    wait_until(known, what="the consent known to the referrals service")
    refused = cw1.post(f"/v1/cases/{case['id']}/referrals", {"provider_id": pathway["clinic"]["id"],
                                                             "service_type": "medical"})
    assert refused.status_code == 409, refused.text
    assert "consent" in refused.json()["detail"]
    assert cw1.get(f"/v1/cases/{case['id']}/referrals").json()["items"] == []


def test_a_service_refuses_to_start_without_its_cipher_key(test_env, tmp_path):
    env = service_env(test_env)
    env.pop("NOTIFICATIONS_CIPHER_KEY")
    process = ServiceProcess("notifications", env, Path(tmp_path))
    try:
        with pytest.raises(AssertionError, match="exited"):
            process.start()
    finally:
        process.stop()
    assert "CIPHER_KEY" in process.log_path.read_text()
