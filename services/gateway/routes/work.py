"""What comes to people to act on: approvals and the approval policy, notifications, and webhooks
(an operator's subscriptions to events)."""
from werkzeug.wrappers import Response

from services.approvals.schemas import DecisionSchema, PolicySchema, QueueQuerySchema
from services.gateway import policy
from services.gateway.apidoc import doc
from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.policy import Administration
from services.gateway.responses import (
    ApprovalPage,
    ApprovalPolicyView,
    DecidedApprovalView,
    DeliveryPage,
    NotificationPage,
    ReadStateView,
    WebhookPage,
    WebhookView,
)
from services.gateway.routes.base import Gateway
from services.gateway.schemas import ApprovalQuerySchema, InboxQuerySchema, PageQuerySchema
from services.notifications import schemas as notification
from services.notifications.schemas import WebhookSchema


class ApprovalRoutes(Gateway):
    """Approvals: the queue of plans and closures waiting for a supervisor, their decisions, and the policy
    that says when approval is needed."""
    tag = "approvals"

    @doc("The caller's approval queue (a supervisor: their team's requests), pending first, oldest first",
         returns=ApprovalPage, query=QueueQuerySchema)
    @route("GET", "/v1/approvals", query=ApprovalQuerySchema)
    def approval_queue(self, request, caller, query):
        return respond(200, self.ask(self.approvals.queue, caller, query))

    @doc("Approve or reject a request (the requester's supervisor); a rejection needs a comment",
         body=DecisionSchema, returns=DecidedApprovalView, takes=("Idempotency-Key",), errors=(409,),
         example={"decision": "approve", "comment": "Agreed."})
    @route("POST", "/v1/approvals/<string:approval_id>/decision")
    def decide(self, request, caller, approval_id):
        return respond(200, self.ask(self.approvals.decide, caller, approval_id, json_body(request),
                                     idempotency_key(request)))

    @doc("When approval is needed: the caller's organisation's policy", returns=ApprovalPolicyView)
    @route("GET", "/v1/approval-policy")
    def approval_policy(self, request, caller):
        return respond(200, self.ask(self.approvals.get_policy, caller))

    @doc("Set the first organisation's approval policy (admin)", body=PolicySchema, returns=ApprovalPolicyView,
         example={"case_plan": "always", "closure": "high_risk"})
    @route("PUT", "/v1/approval-policy")
    def set_approval_policy(self, request, caller):
        policy.check(caller, Administration.SET_APPROVAL_POLICY)
        return respond(200, self.ask(self.approvals.set_policy, caller, json_body(request)))


class NotificationRoutes(Gateway):
    """Notifications: the caller's in-app inbox, and webhooks (an operator's subscriptions to events)."""
    tag = "notifications"

    @doc("The caller's in-app notifications, newest first", returns=NotificationPage,
         query=notification.InboxQuerySchema)
    @route("GET", "/v1/notifications", query=InboxQuerySchema)
    def notifications_list(self, request, caller, query):
        return respond(200, self.ask(self.notifications.inbox, caller, query))

    @doc("Mark one of the caller's notifications read", returns=ReadStateView)
    @route("POST", "/v1/notifications/<string:notification_id>/read")
    def read_notification(self, request, caller, notification_id):
        return respond(200, self.ask(self.notifications.mark_read, caller, notification_id))

    @doc("Register a webhook (admin): deliveries are signed `X-Signature: sha256=<hmac of the body>` and retried "
         "with backoff; the secret is never shown back", body=WebhookSchema, status=201, returns=WebhookView,
         takes=("Idempotency-Key",), example={"url": "https://hooks.agency.example/casetrail",
                                              "events": ["approval_requested"], "secret": "a secret of 16+ chars"})
    @route("POST", "/v1/webhooks")
    def register_webhook(self, request, caller):
        policy.check(caller, Administration.REGISTER_WEBHOOK)
        return respond(201, self.ask(self.notifications.register_webhook, caller, json_body(request),
                                     idempotency_key(request)))

    @doc("The webhooks not deleted (admin); never their secrets", returns=WebhookPage,
         query=notification.WebhookListQuerySchema)
    @route("GET", "/v1/webhooks", query=PageQuerySchema)
    def webhook_list(self, request, caller, query):
        policy.check(caller, Administration.LIST_WEBHOOKS)
        return respond(200, self.ask(self.notifications.webhook_list, caller, query))

    @doc("Delete a webhook (admin): no delivery after this", status=204)
    @route("DELETE", "/v1/webhooks/<string:webhook_id>")
    def delete_webhook(self, request, caller, webhook_id):
        policy.check(caller, Administration.DELETE_WEBHOOK)
        self.ask(self.notifications.delete_webhook, caller, webhook_id)
        return Response(status=204)

    @doc("Deliveries to a webhook, newest first, with every attempt (admin)", returns=DeliveryPage,
         query=notification.WebhookListQuerySchema)
    @route("GET", "/v1/webhooks/<string:webhook_id>/deliveries", query=PageQuerySchema)
    def webhook_deliveries(self, request, caller, webhook_id, query):
        return respond(200, self.ask(self.notifications.webhook_deliveries, caller, webhook_id, query))
