"""Each service's own settings (services/<service>/settings.py): README's defaults, values read from the
environment given, a value that cannot be used refused naming its variable, and read once when the
service's container starts, for its workers, timers and RPC proxies."""
import base64
import dataclasses
import weakref
from pathlib import Path

import pytest

from services.approvals.settings import ApprovalsSettings
from services.cases.service import CasesService
from services.cases.settings import AuditCliSettings, CasesSettings
from services.gateway.cors import CorsOrigins
from services.gateway.settings import GatewaySettings
from services.notifications.destinations import AllowList
from services.notifications.settings import MailSettings, NotificationsSettings, WebhookSettings
from services.referrals.settings import ReferralsSettings
from shared import rpc
from shared.configured import Configured, SettingTimer
from shared.rpc import SignedRpcProxy
from shared.settings import Settings, of_service

MASTER_KEY = bytes(range(32))
REQUIRED = {**{f"{s}_CIPHER_KEY": "k" for s in ("CASES", "REFERRALS", "APPROVALS", "NOTIFICATIONS", "GATEWAY")},
            "JWT_SECRET": "j" * 32, "CASES_MASTER_KEY": base64.b64encode(MASTER_KEY).decode(),
            "AUDIT_SIGNING_KEY": base64.b64encode(bytes(32)).decode()}


def own(settings) -> dict:
    """The fields a service's settings add to every service's."""
    plumbing = {f.name for f in dataclasses.fields(Settings)}
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in plumbing}


def test_every_services_own_settings_have_readmes_defaults():
    assert own(GatewaySettings.from_env(REQUIRED)) == {
        "rpc_timeout": 10.0, "request_timeout": 20.0, "jwt_secret": "j" * 32, "access_token_seconds": 900,
        "refresh_token_seconds": 43200, "login_failure_limit": 5, "login_failure_window_seconds": 900,
        "login_address_failure_limit": 50, "admin_username": "admin", "admin_password": "admin-change-me",
        "first_organisation_name": "First organisation", "cors_origins": CorsOrigins()}
    cases = own(CasesSettings.from_env(REQUIRED))
    assert cases.pop("audit_keys").current_key_id.startswith("ed25519:")
    assert cases == {"master_key": MASTER_KEY, "case_key_cache_seconds": 10.0, "case_number_prefix": "GBV",
                     "checkpoint_dir": None, "checkpoint_seconds": 3600.0, "overdue_scan_seconds": 60.0,
                     "approvals_timeout": 5.0, "changes_wait": 2.5, "retired_master_keys": ()}
    assert own(ReferralsSettings.from_env(REQUIRED)) == {"texts_timeout": 5.0}
    assert own(ApprovalsSettings.from_env(REQUIRED)) == {"texts_timeout": 5.0}
    assert own(NotificationsSettings.from_env(REQUIRED)) == {
        "escalation_scan_seconds": 60.0, "webhook_scan_seconds": 2.0,
        "mail": MailSettings(host="", port=25, sender="casetrail@localhost", max_attempts=10, first_delay=10.0),
        "webhooks": WebhookSettings(max_attempts=8, first_delay=5.0, timeout=5.0, allowed_hosts=AllowList(),
                                    resolve_timeout=3.0)}
    assert AuditCliSettings.from_env({}) == AuditCliSettings(operator="", checkpoint_dir=None, gateway=None, user=None,
                                                             password="")


def test_settings_are_read_from_the_environment_given():
    given = {**REQUIRED, "RPC_TIMEOUT_SECONDS": "4", "TOKEN_TTL_SECONDS": "60", "AUDIT_CHECKPOINT_DIR": " /anchors ",
             "CASE_NUMBER_PREFIX": "CP", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1, hooks.lan", "SMTP_HOST": "mail.lan",
             "AUDIT_OPERATOR": " ops ", "CASETRAIL_GATEWAY": "http://gw:8000"}
    gateway = GatewaySettings.from_env(given)
    assert (gateway.rpc_timeout, gateway.request_timeout, gateway.access_token_seconds) == (4.0, 8.0, 60)
    assert GatewaySettings.from_env({**given, "ACCESS_TOKEN_SECONDS": "30"}).access_token_seconds == 30
    cases = CasesSettings.from_env(given)
    assert (cases.checkpoint_dir, cases.case_number_prefix, cases.approvals_timeout, cases.changes_wait) == (
        Path("/anchors"), "CP", 2.0, 1.0)
    assert cases.service == "cases" and cases.cipher_key == "k"  # and every service's settings too
    assert ReferralsSettings.from_env(given).texts_timeout == 2.0
    notifications = NotificationsSettings.from_env(given)
    assert notifications.mail.enabled and notifications.webhooks.allowed_hosts == AllowList.parse("127.0.0.1,hooks.lan")
    cli = AuditCliSettings.from_env(given)
    assert (cli.operator, cli.checkpoint_dir, cli.gateway) == ("ops", Path("/anchors"), "http://gw:8000")


@pytest.mark.parametrize(("read", "variable", "value", "why"), [
    (GatewaySettings.from_env, "RPC_TIMEOUT_SECONDS", "soon", "must be a number"),
    (GatewaySettings.from_env, "REQUEST_TIMEOUT_SECONDS", "0", "must be more than 0"),
    (GatewaySettings.from_env, "TOKEN_TTL_SECONDS", "1.5", "must be a whole number"),
    (GatewaySettings.from_env, "JWT_SECRET", None, "is required"),
    (CasesSettings.from_env, "CASES_MASTER_KEY", base64.b64encode(b"short").decode(), "must be 32 bytes"),
    (CasesSettings.from_env, "CASES_MASTER_KEY", "not base64!", "must be 32 bytes"),
    (CasesSettings.from_env, "AUDIT_SIGNING_KEY", None, "is required"),
    (CasesSettings.from_env, "OVERDUE_SCAN_SECONDS", "-1", "must be more than 0"),
    (CasesSettings.from_env, "CASE_KEY_CACHE_SECONDS", "nan", "must be a finite number"),
    (CasesSettings.from_env, "POSTGRES_PORT", "70000", "must be at most 65535"),
    (ReferralsSettings.from_env, "RPC_TIMEOUT_SECONDS", "inf", "must be a finite number"),
    (NotificationsSettings.from_env, "WEBHOOK_MAX_ATTEMPTS", "0", "must be at least 1"),
    (NotificationsSettings.from_env, "SMTP_PORT", "smtp", "must be a whole number"),
    (NotificationsSettings.from_env, "CONSUMER_RETRY_DELAY", "0", "must be more than 0"),
])
def test_a_value_that_cannot_be_used_is_refused_naming_its_variable(read, variable, value, why):
    given = {**REQUIRED, variable: value} if value is not None else {k: v for k, v in REQUIRED.items() if k != variable}
    with pytest.raises(RuntimeError, match=variable) as refused:
        read(given)
    assert why in str(refused.value)
    assert value is None or len(value) < 4 or value not in str(refused.value)  # a value is never echoed


def test_secrets_are_never_shown_in_a_settings_objects_repr():
    shown = repr(CasesSettings.from_env(REQUIRED)) + repr(GatewaySettings.from_env({**REQUIRED, "ADMIN_PASSWORD": "pw-x"}))
    shown += repr(AuditCliSettings.from_env({"CASETRAIL_PASSWORD": "pw-y"}))
    assert "j" * 32 not in shown and "pw-x" not in shown and "pw-y" not in shown
    assert repr(MASTER_KEY) not in shown and "audit_keys" not in shown


class Container:
    """What an extension sees of its nameko container."""

    def __init__(self, service_cls, service_name: str):
        self.service_cls, self.service_name = service_cls, service_name


def test_a_service_reads_the_settings_it_declares_once_when_its_container_starts(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OVERDUE_SCAN_SECONDS", "7")
    container = Container(CasesService, "cases")
    first = of_service(weakref.proxy(container))
    monkeypatch.setenv("OVERDUE_SCAN_SECONDS", "8")
    assert isinstance(first, CasesSettings) and first.overdue_scan_seconds == 7
    assert of_service(weakref.proxy(container)) is first
    assert of_service(Container(CasesService, "cases")).overdue_scan_seconds == 8  # a later container reads anew

    class Undeclared:
        pass
    plain = of_service(Container(Undeclared, "cases"))
    assert type(plain) is Settings  # a service (a test's) that declares none gets every service's settings


def bound(extension, container):
    extension.container = container
    return extension


def test_workers_timers_and_proxies_take_their_values_from_the_settings_when_they_set_up(monkeypatch):
    container = Container(CasesService, "cases")
    settings = dataclasses.replace(CasesSettings.from_env(REQUIRED), overdue_scan_seconds=7.0, approvals_timeout=1.5)
    container.casetrail_settings = settings
    provider = bound(Configured(CasesSettings), container)
    provider.setup()
    assert provider.get_dependency(None) is settings
    timer = bound(SettingTimer("overdue_scan_seconds"), container)
    timer.setup()
    assert timer.interval == 7.0
    monkeypatch.setattr(rpc, "keys_of", lambda service, caller_keys: ("keys of", service))
    proxy = bound(SignedRpcProxy("approvals", deadline="approvals_timeout"), container)
    proxy.setup()
    assert (proxy.deadline, proxy.options["expiration"], proxy.keys) == (1.5, 1.5, ("keys of", "cases"))
    with pytest.raises(RuntimeError, match="has no setting 'no_such_setting'"):
        bound(SettingTimer("no_such_setting"), container).setup()


def test_a_timer_whose_interval_is_a_setting_is_timed_like_any_timer():
    """/metrics counts its runs (casetrail_timer_duration_seconds): the tests' positive markers."""
    from shared.metrics import TIMER_DURATION, WorkerMetrics
    metrics = bound(WorkerMetrics(), Container(CasesService, "cases"))
    metrics.setup()
    timer = SettingTimer("overdue_scan_seconds")
    timer.method_name = "flag_overdue_follow_ups"
    worker = type("Worker", (), {"args": (), "entrypoint": timer})()

    def runs() -> float:
        return sum(sample.value for metric in TIMER_DURATION.collect() for sample in metric.samples
                   if sample.name.endswith("_count") and sample.labels.get("timer") == "flag_overdue_follow_ups")
    before = runs()
    metrics.worker_setup(worker)
    metrics.worker_result(worker)
    assert runs() == before + 1
