"""What the approvals service shows: a client's JSON views of requests, and what the bus is told
of requests and decisions. Comments stay sealed here; the entrypoint opens them."""
from services.approvals.domain import Approval, Kind
from shared.times import iso

COMMENTS = ("comment",)  # free text, kept sealed with the case's key
DECISION_EVENTS = {(Kind.CASE_PLAN, True): "CasePlanApproved", (Kind.CASE_PLAN, False): "CasePlanRejected",
                   (Kind.CLOSURE, True): "ClosureApproved", (Kind.CLOSURE, False): "ClosureRejected"}


def queue_item(row: dict) -> dict:
    """A row of the queue; `comment`: the decision's comment, still sealed."""
    item = {"id": str(row["approval_id"]), "case_id": str(row["case_id"]), "case_number": row["case_number"],
            "type": row["kind"], "requested_by": row["requested_by"],
            "requested_at": iso(row["requested_at"]),
            "status": row["status"]}
    if row["decided_by"]:
        item["decided_by"] = row["decided_by"]
        item["comment"] = row["comment"]
    return item


def decision_view(approval: Approval) -> dict:
    return {"id": str(approval.id), "case_id": str(approval.case_id), "case_number": approval.case_number,
            "type": approval.kind, "requested_by": approval.requested_by, "status": approval.status,
            "decided_by": approval.decided_by, "comment": approval.comment}


def public_event(event) -> tuple[str, dict] | None:
    """Requests and decisions, by case id and submission. Comments stay here: free text, like notes."""
    if isinstance(event, Approval.ApprovalRequested):
        return "ApprovalRequested", event.about
    if isinstance(event, Approval.ApprovedByPolicy | Approval.ApprovalDecided):
        by_policy = isinstance(event, Approval.ApprovedByPolicy)
        approved = by_policy or event.approved
        decided_by = "policy" if by_policy else event.decided_by
        return DECISION_EVENTS[(event.about["type"], approved)], {**event.about, "decided_by": decided_by,
                                                                  "commented": bool(getattr(event, "comment", None))}
    return None
