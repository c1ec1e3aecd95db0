"""Organisations (issue 19): the agencies sharing the installation, each with its own users, cases and
approval policy. The gateway keeps the organisations and decides who administers them (policy.py); an
organisation's approval policy is the approvals service's, asked once the organisation is known here."""
from uuid import UUID

from services.approvals.schemas import PolicySchema
from services.gateway import policy, views
from services.gateway.apidoc import doc
from services.gateway.http import idempotency_key, json_body, respond, route
from services.gateway.policy import Administration
from services.gateway.responses import ApprovalPolicyView, OrganisationPage, OrganisationView
from services.gateway.routes.base import Gateway
from services.gateway.schemas import CreateOrganisationSchema, OrganisationPageSchema, PageQuerySchema
from shared.errors import NotFound
from shared.validation import clean, load, parse_id


class OrganisationRoutes(Gateway):
    """Organisations: the agencies sharing the installation, each with its own users, cases and approval
    policy (admin)."""
    tag = "organisations"

    @doc("Create an organisation (admin): an agency whose users, cases and approval policy are its own; a name "
         "no other has, whatever its case", body=CreateOrganisationSchema, status=201, returns=OrganisationView,
         headers=("Location",), takes=("Idempotency-Key",), errors=(409,), example={"name": "Safe Haven"})
    @route("POST", "/v1/organisations")
    def create_organisation(self, request, caller):
        policy.check(caller, Administration.CREATE_ORGANISATION)
        data, key = clean(CreateOrganisationSchema, json_body(request)), idempotency_key(request)

        def create():
            organisation = self.identity.create_organisation(caller, data, key)
            return respond(201, views.organisation(organisation), {"Location": f"/v1/organisations/{organisation.id}"})
        return self.once(request, self.answers.user(caller.username), create, data)

    @doc("The organisations, the first one first, in the order they were created (admin)",
         returns=OrganisationPage, query=OrganisationPageSchema)
    @route("GET", "/v1/organisations", query=PageQuerySchema)
    def organisation_list(self, request, caller, query):
        policy.check(caller, Administration.LIST_ORGANISATIONS)
        page = load(OrganisationPageSchema, query)
        return respond(200, views.organisations(*self.identity.organisations(page["cursor"], page["limit"])))

    @doc("An organisation's approval policy (admin)", returns=ApprovalPolicyView)
    @route("GET", "/v1/organisations/<string:organisation_id>/approval-policy")
    def organisation_approval_policy(self, request, caller, organisation_id):
        policy.check(caller, Administration.READ_ORGANISATION_APPROVAL_POLICY)
        return respond(200, self.ask(self.approvals.get_policy, caller, self._known(organisation_id)))

    @doc("Set an organisation's approval policy (admin)", body=PolicySchema, returns=ApprovalPolicyView,
         example={"case_plan": "always", "closure": "high_risk"})
    @route("PUT", "/v1/organisations/<string:organisation_id>/approval-policy")
    def set_organisation_approval_policy(self, request, caller, organisation_id):
        policy.check(caller, Administration.SET_APPROVAL_POLICY)
        body = json_body(request)
        return respond(200, self.ask(self.approvals.set_policy, caller, body, self._known(organisation_id)))

    def _known(self, organisation_id: str) -> str:
        """The id of an organisation the gateway knows; 404 for any other."""
        parsed: UUID = parse_id(organisation_id, "organisation")
        if self.identity.organisation(parsed) is None:
            raise NotFound("No such organisation.")
        return str(parsed)
