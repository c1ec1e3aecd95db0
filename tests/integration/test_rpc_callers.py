"""Callers are proved, not claimed: a process that reaches the broker and calls a service directly
(as the issue's attacker did, with `{"username": "nobody", "role": "supervisor", ...}`) gets
nothing, whatever identity it makes up, forges, replays or borrows; each refusal is counted."""
import base64
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from shared.caller import read_caller
from shared.errors import Forbidden, NotFound
from shared.identity import CallerKeys
from tests.integration.test_referrals import consented_case, made
from tests.support import counter, wait_until

NOBODY = {"username": "nobody", "role": "supervisor", "team": ["cw1"], "correlation_id": "x"}


@pytest.fixture
def bus(test_env):
    with ClusterRpcProxy({"AMQP_URI": test_env["AMQP_URI"], "serializer": "json"}, timeout=10) as cluster:
        yield cluster


def signed_by(service: str, env: dict, caller: dict, audience: str, method: str) -> str:
    """An identity signed with a service's own key: what only a process holding that secret can make."""
    return CallerKeys.from_env(service, env).sign(read_caller(caller), audience, method)


def refused(call, *args) -> str:
    with pytest.raises(RemoteError) as error:
        call(*args)
    assert error.value.exc_type == "CallerRefused", error.value
    return error.value.value


def refusals(system, reason: str) -> float:
    return counter(system["cases"], "casetrail_rpc_callers_refused_total", reason=reason)


def test_a_made_up_or_forged_caller_reads_no_case(people, bus, test_env, system):
    case = consented_case(people["cw1"])
    before = refusals(system, "missing")
    assert "missing" in refused(bus.cases.get_case, NOBODY, case["id"])
    assert refusals(system, "missing") == before + 1

    forger = Ed25519PrivateKey.generate()
    forged = jwt.encode({"iss": "gateway", "aud": "cases", "call": "get_case", "sub": "sup1", "role": "supervisor",
                         "team": ["cw1"], "iat": int(time.time()), "exp": int(time.time()) + 30, "jti": "j1"},
                        forger, algorithm="EdDSA")
    assert "forged" in refused(bus.cases.get_case, forged, case["id"])
    assert "unknown issuer" in refused(bus.cases.get_case, forged.replace(
        forged.split(".")[1], base64.urlsafe_b64encode(b'{"iss":"me"}').decode().rstrip("=")), case["id"])


def test_an_identity_works_once_for_its_own_call_and_not_after_it_expires(people, bus, test_env):
    case = consented_case(people["cw1"])
    sup1 = {"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"], "correlation_id": "t"}
    token = signed_by("gateway", test_env, sup1, "cases", "get_case")
    assert bus.cases.get_case(token, case["id"])["survivor"]["name"] == "Wanjiru Secret"  # the gateway's own key
    assert "replayed" in refused(bus.cases.get_case, token, case["id"])
    assert "another call" in refused(bus.cases.case_history, signed_by("gateway", test_env, sup1, "cases", "get_case"),
                                     case["id"])
    assert "another service" in refused(bus.cases.get_case, signed_by("gateway", test_env, sup1, "referrals",
                                                                       "get_case"), case["id"])
    old = CallerKeys.from_env("gateway", test_env)
    expired = jwt.encode({"iss": "gateway", "aud": "cases", "call": "get_case", "sub": "sup1", "role": "supervisor",
                          "iat": int(time.time()) - 120, "exp": int(time.time()) - 60, "jti": "old"},
                         old.signing, algorithm="EdDSA")
    assert "expired" in refused(bus.cases.get_case, expired, case["id"])


def test_a_service_acts_only_where_its_calls_are_expected(people, bus, test_env):
    case = consented_case(people["cw1"])
    cw1 = {"username": "cw1", "role": "caseworker", "correlation_id": "t"}
    # The referrals service's key, used for what only the gateway may call.
    assert "issuer" in refused(bus.cases.get_case, signed_by("referrals", test_env, cw1, "cases", "get_case"),
                               case["id"])
    # The gateway's key, used for what only the services that keep case text may call.
    assert "issuer" in refused(bus.cases.open_texts, signed_by("gateway", test_env, cw1, "cases", "open_texts"), [])


def test_sealed_text_opens_only_for_those_who_may_read_the_case(people, pathway, bus, test_env):
    case = consented_case(people["cw1"])
    referral = made(people["cw1"], case, pathway["clinic"], notes="needs PEP within 72 hours")
    sealed = bus.cases.seal_texts(signed_by("referrals", test_env, {"username": "cw1", "role": "caseworker"},
                                            "cases", "seal_texts"), case["id"], ["a note"])
    pair = [[case["id"], sealed[0]]]

    def opened_for(caller):
        return bus.cases.open_texts(signed_by("referrals", test_env, caller, "cases", "open_texts"), pair)
    assert opened_for({"username": "cw1", "role": "caseworker"}) == ["a note"]
    assert opened_for({"username": "sup1", "role": "supervisor", "team": ["cw1", "cw2"]}) == ["a note"]
    for outsider in ({"username": "cw3", "role": "caseworker"}, {"username": "sup2", "role": "supervisor"},
                     {"username": "aud1", "role": "auditor"}, {"username": "admin", "role": "admin"},
                     {"username": "legal1", "role": "provider", "provider_id": pathway["legal"]["id"]}):
        with pytest.raises((NotFound, Forbidden)):
            opened_for(outsider)
    clinic = {"username": "clinic1", "role": "provider", "provider_id": pathway["clinic"]["id"]}
    assert referral["provider_id"] == pathway["clinic"]["id"]
    # The provider the case was referred to, once the cases service has heard of the referral.
    wait_until(lambda: opened_for(clinic) == ["a note"], what="the clinic opening the case's text")


def test_only_the_referrals_service_vouches_for_a_provider_the_cases_service_has_not_heard_of(people, pathway, bus,
                                                                                               test_env):
    """A provider acting on a referral made a moment ago: the cases service has not yet learnt of it
    from the bus (here: no referral at all), so only the referrals service's word, signed as itself,
    lets the text through; the same claim from the approvals service, or no claim, is refused."""
    case = consented_case(people["cw1"])
    clinic = {"username": "clinic1", "role": "provider", "provider_id": pathway["clinic"]["id"]}

    def seal_as(service, referred, **extra):
        return bus.cases.seal_texts(signed_by(service, test_env, clinic, "cases", "seal_texts"), case["id"],
                                    ["declined: full"], referred, **extra)
    sealed = seal_as("referrals", True)
    assert sealed[0].startswith("sealed:")
    opened = bus.cases.open_texts(signed_by("referrals", test_env, clinic, "cases", "open_texts"),
                                  [[case["id"], sealed[0]]], True)
    assert opened == ["declined: full"]
    with pytest.raises(NotFound):
        seal_as("approvals", True)
    with pytest.raises(NotFound):
        seal_as("referrals", False)
    with pytest.raises(NotFound):  # the signer the cases service verified counts, never what a call says
        seal_as("approvals", True, issuer="referrals")
