"""Entrypoints of the referrals service: parse, call, map to views."""
from services.referrals import schemas
from services.referrals.application import Referrals
from services.referrals.domain import Provider, Referral
from services.referrals.queries import Directory
from services.referrals.settings import ReferralsSettings
from services.referrals.views import TEXTS, provider_view, public_event, referral_key, referral_view
from shared.caller import Caller, read_caller
from shared.case_state import CASE_EVENTS
from shared.case_texts import CaseTexts
from shared.configured import Configured
from shared.consumer import on_event
from shared.envelope import read_envelope
from shared.errors import EXPECTED
from shared.metrics import Observable
from shared.outbox import EventSourced
from shared.paging import Cursors, page
from shared.rpc import SignedRpcProxy, rpc
from shared.validation import clean, load, parse_id
from shared.vocabulary import Role

PROVIDER_ACTIONS = {"accept": schemas.EmptySchema, "decline": schemas.ReasonSchema,
                    "complete": schemas.OutcomeSchema}


class ReferralsService(Observable):
    name = "referrals"
    settings: ReferralsSettings = Configured(ReferralsSettings)
    store: Referrals = EventSourced(Referrals, publication=public_event, projections=(Directory(),))
    # Sealing and opening text waits on the cases service; shorter than the gateway's own wait.
    cases = SignedRpcProxy("cases", deadline="texts_timeout")

    @rpc(expected_exceptions=EXPECTED)
    def register_provider(self, caller, data, idempotency_key=None):
        provider = self.store.register_provider(read_caller(caller), clean(schemas.ProviderSchema, data),
                                                idempotency_key)
        return provider_view(provider)

    @rpc(expected_exceptions=EXPECTED)
    def providers(self, caller, query):
        read_caller(caller)
        query = load(schemas.ProviderQuerySchema, query)
        cursors, limit = self._cursors("providers"), query["limit"]
        providers = self.store.providers(query.get("service_type"), query.get("area"),
                                         cursors.read(query["cursor"], 2), limit + 1)
        return page([provider_view(provider) for provider in providers[:limit]], providers, limit,
                    lambda provider: cursors.make(provider.name, str(provider.id)))

    @rpc(expected_exceptions=EXPECTED)
    def provider(self, caller, provider_id):
        """One provider of the pathway, or NotFound: the gateway asks before giving a user a provider."""
        read_caller(caller)
        return provider_view(self.store.get_one(parse_id(provider_id, "provider"), Provider, "No such provider."))

    @rpc(expected_exceptions=EXPECTED)
    def make_referral(self, caller, case_id, case_number, data, idempotency_key=None, hint=False):
        """`hint`: the gateway had the cases service find the case in the caller's scope."""
        caller = read_caller(caller)
        referral = self.store.make_referral(caller, parse_id(case_id, "case"), case_number,
                                            load(schemas.ReferralSchema, data), idempotency_key, self._texts(caller),
                                            hint=hint is True)
        return self._views(caller, [referral], hint=hint is True)[0]

    @rpc(expected_exceptions=EXPECTED)
    def referrals_of_case(self, caller, case_id, hint=False, query=None):
        caller, case_id = read_caller(caller), parse_id(case_id, "case")
        query = load(schemas.ReferralListQuerySchema, query or {})
        cursors, limit = self._cursors(f"referrals:{case_id}"), query["limit"]
        referrals = self.store.referrals_of_case(caller, case_id, cursors.read(query["cursor"], 2), limit + 1,
                                                 hint=hint is True)
        return page(self._views(caller, referrals[:limit], hint=hint is True), referrals, limit,
                    lambda referral: cursors.make(*referral_key(referral)))

    @rpc(expected_exceptions=EXPECTED)
    def referrals(self, caller, query=None):
        caller = read_caller(caller)
        query = load(schemas.ReferralListQuerySchema, query or {})
        cursors, limit = self._cursors("referrals"), query["limit"]
        referrals = self.store.referrals_for(caller, cursors.read(query["cursor"], 2), limit + 1)
        return page(self._views(caller, referrals[:limit]), referrals, limit,
                    lambda referral: cursors.make(*referral_key(referral)))

    @rpc(expected_exceptions=EXPECTED)
    def act_as_provider(self, caller, referral_id, action, data, idempotency_key=None):
        caller = read_caller(caller)
        data = load(PROVIDER_ACTIONS[action](), data or {})
        referral = self.store.act_as_provider(caller, parse_id(referral_id, "referral"), action, data,
                                              self._texts(caller), idempotency_key)
        return self._views(caller, [referral])[0]

    @rpc(expected_exceptions=EXPECTED)
    def case_of_referral(self, caller, referral_id):
        return str(self.store.case_of_referral(read_caller(caller), parse_id(referral_id, "referral")))

    @rpc(expected_exceptions=EXPECTED)
    def withdraw(self, caller, referral_id, data, hint=False, idempotency_key=None):
        caller = read_caller(caller)
        referral = self.store.withdraw(caller, parse_id(referral_id, "referral"),
                                       load(schemas.ReasonSchema, data)["reason"], self._texts(caller),
                                       hint=hint is True, idempotency_key=idempotency_key)
        return self._views(caller, [referral], hint=hint is True)[0]

    def _cursors(self, listing: str) -> Cursors:
        return Cursors(self.settings.cipher_key, listing)

    def _texts(self, caller: Caller) -> CaseTexts:
        # A provider reaches texts only through its own referrals (policy checks that first), so this
        # service vouches for it: the cases service may not have learnt of a referral just made.
        return CaseTexts(self.cases, self.settings.texts_timeout, caller, referred=caller.role == Role.PROVIDER)

    def _views(self, caller: Caller, referrals: list[Referral], hint: bool = False) -> list[dict]:
        visible = self.store.notes_visible(caller, referrals, hint=hint)
        views = [referral_view(r, notes) for r, notes in zip(referrals, visible, strict=True)]
        self._texts(caller).open_in(views, TEXTS)
        return views

    @on_event("ConsentRecorded", "ConsentWithdrawn")
    def consent_changed(self, body):
        return self.store.consent_changed(read_envelope(body))

    @on_event(*CASE_EVENTS)
    def case_changed(self, body):
        return self.store.case_changed(read_envelope(body))
