"""The two kinds of text Casetrail accepts, and the one rule behind them.

No string may hold NUL, another control character (C0, DEL, C1) or an unpaired surrogate: PostgreSQL
cannot store NUL or a surrogate at all, and the other controls break the screens, logs and exports
that show the text. Free text (notes, reasons, descriptions, answers) may also span lines: tab, line
feed and carriage return. Everything else is a single line: names, phone numbers, areas, usernames,
ids, enumerations, keys, query parameters."""
import re

from marshmallow import ValidationError, fields

_SURROGATES = "\ud800-\udfff"
_NOT_IN_A_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_SURROGATES}]")
_NOT_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATES}]")


def refusal(value: str, *, free_text: bool = False) -> str | None:
    """Why `value` cannot be accepted, or None when it can."""
    found = (_NOT_IN_TEXT if free_text else _NOT_IN_A_LINE).search(value)
    if found is None:
        return None
    char = f"U+{ord(found.group()):04X}"
    if "\ud800" <= found.group() <= "\udfff":
        return f"Holds an unpaired surrogate ({char}): send valid UTF-8."
    if found.group() in "\t\n\r":
        return f"Must be a single line: no tab, line feed or carriage return ({char})."
    return f"Holds a control character ({char})."


class _Refusing(fields.String):
    """Mixed into a marshmallow string field: refuses what `refusal` refuses."""
    free_text = False

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if (why := refusal(text, free_text=self.free_text)) is not None:
            raise ValidationError(why)
        return text


class Line(_Refusing, fields.String):
    """A single line: a name, a phone number, an area, a username, an id, an enumeration, a key."""


class Text(_Refusing, fields.String):
    """Free text (notes, reasons, descriptions, answers): it may span lines."""
    free_text = True


class Email(_Refusing, fields.Email):
    """An email address (marshmallow's check alone lets controls through inside quotes)."""


class Url(_Refusing, fields.Url):
    """A URL (marshmallow's check alone lets NUL and other controls through in the path)."""
