"""Who may do what with referrals: every read and command of the referrals service is decided
here, from the caller, the action and the case as this service knows it (from the cases service's
events). Pure: no I/O. Each function returns, or raises the refusal the client gets.

The provider directory: anyone signed in reads it; only an admin adds to it."""
from dataclasses import dataclass
from uuid import UUID

from shared.caller import Caller
from shared.errors import Forbidden, InvalidTransition, NotFound
from shared.vocabulary import CASE_ROLES, ReferralStatus, Role

CASE_ACTIONS = ("make", "read_case", "withdraw")  # the case's caseworker or supervisor
PROVIDER_ACTIONS = ("accept", "decline", "complete")  # the referral's provider
ACTIONS = (*CASE_ACTIONS, *PROVIDER_ACTIONS, "read_notes")


@dataclass(frozen=True)
class CaseState:
    """A case as the referrals service learnt it. `assigned_to` None: not heard of yet."""

    assigned_to: str | None = None
    closed: bool = False
    erased: bool = False
    consent: bool = False  # current consent to services and to sharing with providers

    @property
    def referrals_allowed(self) -> bool:
        return self.consent and not self.erased

    @property
    def withdrawal_cause(self) -> str | None:
        """Why the case's open referrals must be withdrawn, if they must."""
        if self.erased:
            return "erased"
        return None if self.consent else "consent_withdrawn"


@dataclass(frozen=True)
class Listing:
    """Which referrals a caller's list holds: a provider's (`holders` None), or those of the cases
    that `holders` hold."""

    provider_id: str | None = None
    holders: tuple[str, ...] | None = None


def in_scope(caller: Caller, case: CaseState, hint: bool = False) -> bool:
    """`hint`: the cases service has just said the case is in the caller's scope. Believed only for
    a case this service has not heard of yet (its CaseRegistered still on the way)."""
    if case.assigned_to is None:
        return hint and caller.works_on_cases
    return case.assigned_to in caller.scope


def check(caller: Caller, action: str, case: CaseState, provider_id: UUID | str | None = None,
          hint: bool = False, status: str | None = None) -> None:
    """Raises unless `caller` may do `action`. `provider_id` and `status`: the referral acted on, if any."""
    if action in CASE_ACTIONS:
        _check_case_side(caller, action, case, hint)
    elif action in PROVIDER_ACTIONS:
        _check_provider(caller, case, provider_id)
    elif action == "read_notes":
        if not may_read_notes(caller, case, provider_id, status):
            raise Forbidden("The notes of this referral are no longer shared with you.")
    else:
        raise ValueError(action)


def may_read_notes(caller: Caller, case: CaseState, provider_id: UUID | str | None, status: str | None,
                   hint: bool = False) -> bool:
    """The case's team always (erased text reads "[erased]"); the provider only while the survivor
    still consents and the referral was not withdrawn."""
    if caller.role == Role.PROVIDER:
        return _is_provider(caller, provider_id) and case.referrals_allowed and status != ReferralStatus.WITHDRAWN
    return in_scope(caller, case, hint=hint)


def listing(caller: Caller) -> Listing:
    """Whose referrals the caller's list holds."""
    if caller.role == Role.PROVIDER:
        return Listing(provider_id=caller.provider_id)
    if caller.role in CASE_ROLES:
        return Listing(holders=caller.scope)
    raise Forbidden("Only providers, caseworkers and supervisors see referrals.")


def check_finding_case(caller: Caller) -> None:
    """Only the case's side asks which case a referral is about (then `check` decides on that case)."""
    if caller.role not in CASE_ROLES:
        raise NotFound("No such referral.")


def check_directory_entry(caller: Caller) -> None:
    if caller.role != Role.ADMIN:
        raise Forbidden("Only an admin manages the provider directory.")


def _check_case_side(caller: Caller, action: str, case: CaseState, hint: bool) -> None:
    if caller.role not in CASE_ROLES:
        if action == "make":
            raise Forbidden("Only caseworkers and supervisors make referrals.")
        raise NotFound("No such case." if action == "read_case" else "No such referral.")
    if not in_scope(caller, case, hint=hint):
        raise NotFound("No such case." if action != "withdraw" else "No such referral.")
    if action == "read_case":
        return
    if case.erased:
        raise InvalidTransition("The survivor's identifying data was erased; the case can no longer change.")
    if case.closed:
        raise InvalidTransition("The case is closed; reopen it first.")
    if action == "make" and not case.consent:
        raise InvalidTransition("The survivor's current consent does not allow sharing with service "
                                "providers: record consent to services and sharing first.")


def check_replay(caller: Caller, action: str, case: CaseState, provider_id: UUID | str | None) -> None:
    """Whether a retry (Idempotency-Key) of `action` may be shown its first answer: only while the caller
    still reaches the referral (its provider's focal point, or the case's caseworker or supervisor), its
    state aside (the action was done). Else 404, as to any request of theirs."""
    if action in CASE_ACTIONS:
        if not in_scope(caller, case):
            raise NotFound("No such referral.")
    elif caller.role != Role.PROVIDER or not _is_provider(caller, provider_id):
        raise NotFound("No such referral.")


def _check_provider(caller: Caller, case: CaseState, provider_id: UUID | str | None) -> None:
    if caller.role != Role.PROVIDER or not _is_provider(caller, provider_id):
        raise NotFound("No such referral.")  # never tell one provider about another's referrals
    if case.erased:
        raise InvalidTransition("The case was erased; this referral was withdrawn.")
    if not case.consent:
        raise InvalidTransition("The survivor withdrew consent to share with providers; this referral was withdrawn.")


def _is_provider(caller: Caller, provider_id: UUID | str | None) -> bool:
    return provider_id is not None and str(caller.provider_id) == str(provider_id)
