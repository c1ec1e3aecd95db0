"""Entrypoints of the approvals service."""

from services.approvals.application import ApprovalsStore
from shared.metrics import Observable
from shared.outbox import EventSourced


class ApprovalsService(Observable):
    name = "approvals"
    store: ApprovalsStore = EventSourced(ApprovalsStore)
