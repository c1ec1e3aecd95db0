"""The approvals service's store. Its use cases come with their own issue; the service already
runs, owns its schema and reports health and metrics."""
from shared.store import ServiceStore


class ApprovalsStore(ServiceStore):
    name = "approvals"
