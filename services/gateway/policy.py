"""What the gateway decides itself, and the one place it does: who administers users, organisations,
webhooks, the provider directory and the approval policies (an admin; anyone else is 403 before the
request is read or forwarded), who lists a team (its supervisor), and what a user whose password was
reset may do before they set a new one. Everything about a case, a referral, an approval or a
notification is decided by the service that owns it (its own policy.py), which the gateway asks by
forwarding the call with the caller it proved. Pure: no I/O."""
from enum import StrEnum

from shared.caller import Caller
from shared.errors import Forbidden
from shared.vocabulary import Role


class Administration(StrEnum):
    CREATE_USER = "create_user"
    READ_USERS = "read_users"
    CHANGE_USER = "change_user"
    DEACTIVATE_USER = "deactivate_user"
    REACTIVATE_USER = "reactivate_user"
    RESET_PASSWORD = "reset_password"
    UNLOCK_USER = "unlock_user"
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
    Administration.READ_USERS: "Only an admin lists and reads users.",
    Administration.CHANGE_USER: "Only an admin changes users.",
    Administration.DEACTIVATE_USER: "Only an admin deactivates users.",
    Administration.REACTIVATE_USER: "Only an admin reactivates users.",
    Administration.RESET_PASSWORD: "Only an admin resets passwords.",
    Administration.UNLOCK_USER: "Only an admin unlocks accounts.",
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


def check_team_reader(caller: Caller) -> None:
    """GET /v1/team: a supervisor's own team, whom they may reassign a case to (the least a reassignment
    needs: usernames and display names). No one else has a team to list; an admin lists users."""
    if caller.role != Role.SUPERVISOR:
        raise Forbidden("Only a supervisor lists their team (an admin lists users: GET /v1/users).")


# What a user whose password was reset may still do (anything else: 403 password_change_required).
BEFORE_PASSWORD_CHANGE = frozenset({("POST", "/v1/users/me/password"), ("GET", "/v1/users/me"),
                                    ("POST", "/v1/auth/logout")})


def may_before_password_change(method: str, path: str) -> bool:
    return (method, path.rstrip("/") or "/") in BEFORE_PASSWORD_CHANGE


def check(caller: Caller, action: Administration) -> None:
    """Raises Forbidden unless the caller may do `action`."""
    if not may(caller, action):
        raise Forbidden(_REFUSALS[action])
