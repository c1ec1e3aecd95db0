"""The base of every aggregate: each of its events records who did it (`by`: username, role,
correlation id). The store keeps the events; together they are the audit trail."""
from eventsourcing.domain import Aggregate


class Audited(Aggregate):
    class Event(Aggregate.Event):
        by: dict
