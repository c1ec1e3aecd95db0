"""Entrypoints of the referrals service."""

from services.referrals.application import ReferralsStore
from shared.metrics import Observable
from shared.outbox import EventSourced


class ReferralsService(Observable):
    name = "referrals"
    store: ReferralsStore = EventSourced(ReferralsStore)
