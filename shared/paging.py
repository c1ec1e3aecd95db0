"""Pages of a list (api.md): `limit` (1 to 200, default DEFAULT_LIMIT) and an opaque `cursor`.

A list is read in a stable order over a unique key (keyset paging, in SQL): a page is the rows after
the last one the previous page gave, so rows written between pages never repeat or skip another.
The cursor is that last row's key, sealed (AES-GCM, a key derived from the service's cipher key) and
bound to the list it came from: a client can neither read it nor make one, and anything else sent
as a cursor (garbage, tampered, another list's) is 422 naming `cursor`, never an error of ours."""
import base64
import binascii
import json
import os
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from marshmallow import fields, validate

from shared.envelope import Strict
from shared.errors import InvalidInput
from shared.keys import derived_key
from shared.text import Line

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR = 512  # far above any cursor given out: nothing longer is worth decrypting
_NONCE = 12


class PageSchema(Strict):
    """The paging parameters every list takes; a list's own schema adds its filters."""
    limit = fields.Integer(load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT))
    cursor = Line(load_default=None, allow_none=True, validate=validate.Length(min=1, max=MAX_CURSOR))


class Cursors:
    """Seals and opens the cursors of one list (`listing`: its name; a cursor opens only there)."""

    def __init__(self, secret: str, listing: str):
        self.aead, self.listing = AESGCM(derived_key(secret, b"casetrail list cursor")), listing.encode()

    def make(self, *key: Any) -> str:
        """The cursor after a row whose key is `key` (strings, numbers)."""
        nonce = os.urandom(_NONCE)
        sealed = self.aead.encrypt(nonce, json.dumps(key, separators=(",", ":")).encode(), self.listing)
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def read(self, cursor: str | None, arity: int) -> tuple | None:
        """The key a cursor of this list holds (`arity` values); None for no cursor (the first page)."""
        if cursor is None:
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            key = json.loads(self.aead.decrypt(raw[:_NONCE], raw[_NONCE:], self.listing))
        except (ValueError, binascii.Error, InvalidTag, UnicodeError):
            key = None
        if not isinstance(key, list) or len(key) != arity:
            raise InvalidInput({"cursor": ["Not a cursor this list gave out."]})
        return tuple(key)


def page(items: Sequence[dict], rows: Sequence, limit: int, cursor_after: Callable[[Any], str]) -> dict:
    """A page of a list read with `limit + 1` rows (`rows`): a next cursor only when there are more."""
    more = len(rows) > limit
    return {"items": list(items)[:limit], "next_cursor": cursor_after(rows[limit - 1]) if more else None}
