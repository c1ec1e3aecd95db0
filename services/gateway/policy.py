"""What the gateway decides itself, and the one place it does: who administers users, organisations,
webhooks, the provider directory and the approval policies (an admin; anyone else is 403 before the request is read
or forwarded). Everything about a case, a referral, an approval or a notification is decided by the
service that owns it (its own policy.py), which the gateway asks by forwarding the call with the
caller it proved. Pure: no I/O."""
from enum import StrEnum

from shared.caller import Caller
from shared.errors import Forbidden
from shared.vocabulary import Role


class Administration(StrEnum):
    CREATE_USER = "create_user"
    REGISTER_WEBHOOK = "register_webhook"
    LIST_WEBHOOKS = "list_webhooks"
    DELETE_WEBHOOK = "delete_webhook"
    SET_APPROVAL_POLICY = "set_approval_policy"
    REGISTER_PROVIDER = "register_provider"
    CREATE_ORGANISATION = "create_organisation"  # issue 19: organisations
    LIST_ORGANISATIONS = "list_organisations"
    READ_ORGANISATION_APPROVAL_POLICY = "read_organisation_approval_policy"


_REFUSALS = {
    Administration.CREATE_USER: "Only an admin creates users.",
    Administration.REGISTER_WEBHOOK: "Only an admin registers webhooks.",
    Administration.LIST_WEBHOOKS: "Only an admin lists webhooks.",
    Administration.DELETE_WEBHOOK: "Only an admin deletes webhooks.",
    Administration.SET_APPROVAL_POLICY: "Only an admin sets the approval policy.",
    Administration.REGISTER_PROVIDER: "Only an admin manages the provider directory.",
    Administration.CREATE_ORGANISATION: "Only an admin creates organisations.",
    Administration.LIST_ORGANISATIONS: "Only an admin lists organisations.",
    Administration.READ_ORGANISATION_APPROVAL_POLICY: "Only an admin reads an organisation's approval policy by its id;"
                                                      " GET /v1/approval-policy gives your own organisation's.",
}


def may(caller: Caller, action: Administration) -> bool:
    return caller.role == Role.ADMIN


def check(caller: Caller, action: Administration) -> None:
    """Raises Forbidden unless the caller may do `action`."""
    if not may(caller, action):
        raise Forbidden(_REFUSALS[action])
