"""marshmallow errors as the contract's `{"field.path": ["message", ...]}`."""
import functools
from uuid import UUID

from marshmallow import Schema, ValidationError

from shared.errors import InvalidInput, NotFound
from shared.text import refusal


def field_paths(messages, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(messages, list):
        return {prefix or "_schema": [str(m) for m in messages]}
    paths: dict[str, list[str]] = {}
    for key, value in messages.items():
        key = printable(str(key))
        paths.update(field_paths(value, f"{prefix}.{key}" if prefix else key))
    return paths


def printable(key: str) -> str:
    """A key as it may be shown back: a refused key's controls and surrogates escaped, never echoed."""
    return key if refusal(key) is None else key.encode("unicode_escape").decode("ascii")


@functools.cache
def _instance(schema_class: type[Schema]) -> Schema:
    return schema_class()


def load(schema: Schema | type[Schema], data, prefix: str = ""):
    """`data` validated by the schema; a schema class is made once and reused (making a marshmallow schema
    copies all its fields: that was a good part of the cost of reading each request and bus event)."""
    if isinstance(schema, type):
        schema = _instance(schema)
    if not isinstance(data, dict):
        raise InvalidInput({prefix or "_schema": ["Must be a JSON object."]})
    try:
        return schema.load(data)
    except ValidationError as error:
        raise InvalidInput(field_paths(error.messages, prefix)) from None


def clean(schema: Schema | type[Schema], data, prefix: str = "") -> dict:
    """Validated input in plain JSON types, ready to be recorded in an event."""
    if isinstance(schema, type):
        schema = _instance(schema)
    return schema.dump(load(schema, data, prefix))


def parse_id(value, what: str) -> UUID:
    """A malformed id names nothing that exists: 404, like an unknown one."""
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFound(f"No such {what}.") from None


def refuse_unsafe_strings(document) -> None:
    """Refuses a JSON document in which any string, key or value, holds what no field may hold: NUL,
    another control character (tab and line breaks pass: free text may hold them; each field's own
    type refuses them in a single line) or an unpaired surrogate."""
    if refused := _unsafe_strings(document):
        raise InvalidInput(refused)


def _unsafe_strings(value, path: str = "") -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if isinstance(value, str) and (why := refusal(value, free_text=True)) is not None:
        found[path or "_schema"] = [why]
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{printable(key)}" if path else printable(key)
            if (why := refusal(key)) is not None:
                found[where] = [f"The name: {why}"]
            found |= _unsafe_strings(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found |= _unsafe_strings(item, f"{path}.{index}" if path else str(index))
    return found
