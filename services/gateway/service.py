"""The gateway: the only door for web and mobile clients (../shared/api.md). Each route parses the
request, has the gateway's policy decide what the gateway decides (administration), calls a use case
or the service that owns the resource (with the caller it proved), and maps the answer to HTTP.
The routes live in services/gateway/routes/, one module per area; this class is all of them."""
from services.gateway.http import refuse_unknown_route, unknown_routes
from services.gateway.routes.cases import CaseCommandRoutes, CaseRoutes
from services.gateway.routes.organisations import OrganisationRoutes
from services.gateway.routes.people import PeopleRoutes
from services.gateway.routes.referrals import ReferralRoutes
from services.gateway.routes.staff import StaffRoutes
from services.gateway.routes.webapp import WebAppRoutes
from services.gateway.routes.work import ApprovalRoutes, NotificationRoutes


class GatewayService(PeopleRoutes, StaffRoutes, OrganisationRoutes, CaseRoutes, CaseCommandRoutes, ReferralRoutes,
                     ApprovalRoutes, NotificationRoutes, WebAppRoutes):
    name = "gateway"

    @unknown_routes
    def unknown_route(self, request, path=""):
        refuse_unknown_route(type(self), request)
