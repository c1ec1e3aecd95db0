"""Free text about a case that a service other than cases keeps (referral notes, reasons and
outcomes, approval comments). The cases service seals it with the case's own key, so this
service stores only ciphertext it cannot read, and erasing the case erases the text here too.
Views carry the sealed values; the entrypoint opens them, in one call, just before answering."""
from collections.abc import Iterable
from uuid import UUID

import eventlet

from shared.caller import Caller
from shared.errors import ServiceUnavailable

SEALED = "sealed:"


def is_sealed(value) -> bool:
    return isinstance(value, str) and value.startswith(SEALED)


class CaseTexts:
    def __init__(self, cases_rpc, timeout: float, caller: Caller, referred: bool = False):
        """`caller`: whom the text is sealed or opened for; the cases service asks its own policy.
        `referred`: the referrals service vouches that the caller is the provider each case was
        referred to (it holds the referral; the cases service may not have heard of it yet)."""
        self.cases, self.timeout, self.caller, self.referred = cases_rpc, timeout, caller, referred

    def seal(self, case_id: UUID, text: str | None) -> str | None:
        if text is None:
            return None
        return self._call(self.cases.seal_texts, self.caller, str(case_id), [text], self.referred)[0]

    def open(self, case_id: UUID, value):
        return self._open_all([(str(case_id), value)])[0]

    def open_in(self, views: Iterable[dict], fields: tuple[str, ...]) -> None:
        """Opens `fields` of each view (a dict with its `case_id`) in place."""
        places = [(view, field) for view in views for field in fields if is_sealed(view.get(field))]
        opened = self._open_all([(view["case_id"], view[field]) for view, field in places])
        for (view, field), text in zip(places, opened, strict=True):
            view[field] = text

    def _open_all(self, pairs: list[tuple[str, str]]) -> list:
        sealed = [[case_id, value] for case_id, value in pairs if is_sealed(value)]
        opened = iter(self._call(self.cases.open_texts, self.caller, sealed, self.referred) if sealed else [])
        return [next(opened) if is_sealed(value) else value for _, value in pairs]

    def _call(self, method, *args):
        # The cases service holds the keys: without it, no text can be sealed or read.
        with eventlet.Timeout(self.timeout, ServiceUnavailable("The cases service did not answer in time.")):
            return method(*args)
