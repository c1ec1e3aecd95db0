"""Who may do what in the notifications service: the one place it decides access. Pure: no I/O.

A person reads and marks only their own notifications (anyone else's is 404: never leak that it
exists); only an admin manages webhooks and reads their deliveries."""
from shared.caller import Caller
from shared.errors import Forbidden, NotFound
from shared.vocabulary import Role

REGISTER, LIST, DELETE, READ_DELIVERIES = "register", "list", "delete", "read_deliveries"
_ADMIN_ONLY = {
    REGISTER: "Only an admin registers webhooks.",
    LIST: "Only an admin lists webhooks.",
    DELETE: "Only an admin deletes webhooks.",
    READ_DELIVERIES: "Only an admin reads webhook deliveries.",
}


def check_webhooks(caller: Caller, action: str) -> None:
    """Raises Forbidden unless the caller may do `action` (REGISTER, LIST, ...) on webhooks."""
    if caller.role != Role.ADMIN:
        raise Forbidden(_ADMIN_ONLY[action])


def whose_inbox(caller: Caller) -> str:
    """The inbox a caller reads: their own."""
    return caller.username


def check_recipient(caller: Caller, recipient: str) -> None:
    """Raises NotFound unless the notification is the caller's."""
    if recipient != caller.username:
        raise NotFound("No such notification.")
