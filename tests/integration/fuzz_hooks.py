"""schemathesis hooks for tests/integration/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

Half the generated bodies and query strings get one string (a value, or a key) holding a control
character or an unpaired surrogate; the checks ask that every error is a problem document with a
`code`, and that such hostile input is never accepted (2xx) nor breaks anything (5xx)."""
import os

import schemathesis
from hypothesis import strategies as st

from shared.text import refusal

# Tab, line feed and carriage return are fine in free text: hostile means anything else of Cc, or Cs.
_CONTROLS = st.characters(categories=["Cc"], exclude_characters="\t\n\r")
_IN_A_BODY = st.one_of(_CONTROLS, st.characters(categories=["Cs"]))


def _hostile(alphabet) -> st.SearchStrategy[str]:
    return st.builds(lambda before, bad, after: before + bad + after,
                     st.text(max_size=4), st.text(alphabet, min_size=1, max_size=3), st.text(max_size=4))


def _spots(value, path=()):
    """Where a string could be made hostile: ("value", path) for string leaves, ("key", path) for keys."""
    if isinstance(value, str):
        yield "value", path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield "key", (*path, key)
            yield from _spots(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _spots(item, (*path, index))


def _with(value, spot, bad: str):
    kind, path = spot
    if not path:
        return bad
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [_with(item, (kind, rest), bad) if i == head else item for i, item in enumerate(value)]
    if kind == "key" and not rest:
        return {(bad if key == head else key): item for key, item in value.items()}
    return {key: _with(item, (kind, rest), bad) if key == head else item for key, item in value.items()}


def _sometimes_hostile(value, alphabet, keys: bool = True) -> st.SearchStrategy:
    spots = [spot for spot in _spots(value) if keys or spot[0] == "value"]
    if not spots:
        return st.just(value)
    return st.one_of(st.just(value), st.builds(lambda spot, bad: _with(value, spot, bad),
                                               st.sampled_from(spots), _hostile(alphabet)))


@schemathesis.hook
def flatmap_body(context, body):
    return _sometimes_hostile(body, _IN_A_BODY)


@schemathesis.hook
def flatmap_query(context, query):
    # A URL carries UTF-8: no surrogate can be sent in one, so only controls here.
    return _sometimes_hostile(query, _CONTROLS, keys=False)


def _is_hostile(value) -> bool:
    if isinstance(value, str):
        return refusal(value, free_text=True) is not None
    if isinstance(value, dict):
        return any(_is_hostile(key) or _is_hostile(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_is_hostile(item) for item in value)
    return False


@schemathesis.check
def problem_documents(ctx, response, case):
    """Every error is application/problem+json with a `code`; every /v1 answer says no-store; hostile
    text is refused, never accepted."""
    if case.path.startswith("/v1/"):
        assert response.headers.get("cache-control") == ["no-store"], "no Cache-Control: no-store"
    if response.status_code >= 400:
        assert response.headers.get("content-type") == ["application/problem+json"], "error is not problem+json"
        assert isinstance(response.json().get("code"), str), "problem without a code"
    if _is_hostile(case.body) or _is_hostile(case.query):
        with open(os.environ["FUZZ_HOSTILE_LOG"], "a") as log:
            log.write(f"{case.method} {case.path} {response.status_code}\n")
        assert 400 <= response.status_code < 500, f"hostile text answered {response.status_code}"
