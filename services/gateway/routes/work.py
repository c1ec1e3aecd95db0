"""What comes to people to act on: approvals and the approval policy, notifications, and webhooks
(an operator's subscriptions to events)."""
from werkzeug.wrappers import Response

from services.gateway import policy
from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.policy import Administration
from services.gateway.routes.base import Gateway
from services.gateway.schemas import ApprovalQuerySchema, InboxQuerySchema, PageQuerySchema


class ApprovalRoutes(Gateway):
    @route("GET", "/v1/approvals", query=ApprovalQuerySchema)
    def approval_queue(self, request, caller, query):
        return respond(200, self.ask(self.approvals.queue, caller, query))

    @route("POST", "/v1/approvals/<string:approval_id>/decision")
    def decide(self, request, caller, approval_id):
        return respond(200, self.ask(self.approvals.decide, caller, approval_id, json_body(request),
                                     idempotency_key(request)))

    @route("GET", "/v1/approval-policy")
    def approval_policy(self, request, caller):
        return respond(200, self.ask(self.approvals.get_policy, caller))

    @route("PUT", "/v1/approval-policy")
    def set_approval_policy(self, request, caller):
        policy.check(caller, Administration.SET_APPROVAL_POLICY)
        return respond(200, self.ask(self.approvals.set_policy, caller, json_body(request)))


class NotificationRoutes(Gateway):
    @route("GET", "/v1/notifications", query=InboxQuerySchema)
    def notifications_list(self, request, caller, query):
        return respond(200, self.ask(self.notifications.inbox, caller, query))

    @route("POST", "/v1/notifications/<string:notification_id>/read")
    def read_notification(self, request, caller, notification_id):
        return respond(200, self.ask(self.notifications.mark_read, caller, notification_id))

    @route("POST", "/v1/webhooks")
    def register_webhook(self, request, caller):
        policy.check(caller, Administration.REGISTER_WEBHOOK)
        return respond(201, self.ask(self.notifications.register_webhook, caller, json_body(request),
                                     idempotency_key(request)))

    @route("GET", "/v1/webhooks", query=PageQuerySchema)
    def webhook_list(self, request, caller, query):
        policy.check(caller, Administration.LIST_WEBHOOKS)
        return respond(200, self.ask(self.notifications.webhook_list, caller, query))

    @route("DELETE", "/v1/webhooks/<string:webhook_id>")
    def delete_webhook(self, request, caller, webhook_id):
        policy.check(caller, Administration.DELETE_WEBHOOK)
        self.ask(self.notifications.delete_webhook, caller, webhook_id)
        return Response(status=204)

    @route("GET", "/v1/webhooks/<string:webhook_id>/deliveries", query=PageQuerySchema)
    def webhook_deliveries(self, request, caller, webhook_id, query):
        return respond(200, self.ask(self.notifications.webhook_deliveries, caller, webhook_id, query))
