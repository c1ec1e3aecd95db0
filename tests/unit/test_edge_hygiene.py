"""What the gateway refuses before anything is forwarded, and what its access log keeps."""
import logging

import pytest

from services.gateway.errors import PROBLEMS, MethodNotAllowed, problem_for
from shared.errors import InvalidInput
from shared.logs import AccessLog, names_only
from shared.validation import refuse_unsafe_strings

CONTRACT_CODES = {"malformed", "unauthenticated", "forbidden", "password_change_required", "not_found", "method_not_allowed",
                  "invalid_transition", "conflict", "version_mismatch", "payload_too_large", "unsupported_media_type",
                  "validation", "rate_limited", "unavailable"}


def test_the_error_table_gives_every_code_of_the_contract_once():
    codes = [code for _, code, _ in PROBLEMS.values()]
    assert set(codes) == CONTRACT_CODES and len(codes) == len(set(codes))


def test_a_wrong_method_lists_the_methods_the_path_takes():
    response = problem_for(MethodNotAllowed("x", ["GET", "HEAD"]))
    assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"


def test_every_string_of_a_body_is_checked_keys_included_and_named_by_its_path():
    body = {"survivor": {"name": "A\x00"}, "goals": [{"action": "ok\nfine"}, {"action": "\ud800"}],
            "answers": {"q\x01": "yes", "q2": "tab\tok"}, "n": 3, "none": None}
    with pytest.raises(InvalidInput) as refused:
        refuse_unsafe_strings(body)
    assert set(refused.value.errors) == {"survivor.name", "goals.1.action", "answers.q\\x01"}
    refuse_unsafe_strings({"notes": "line one\r\n\tline two", "list": ["a", 1, True]})  # free text passes here


def test_a_body_that_is_only_a_string_is_checked_too():
    with pytest.raises(InvalidInput) as refused:
        refuse_unsafe_strings("\x00")
    assert set(refused.value.errors) == {"_schema"}


@pytest.mark.parametrize("line, kept", [
    ("GET /v1/cases?assigned_to=Amina&limit=2 HTTP/1.1", "GET /v1/cases?assigned_to&limit HTTP/1.1"),
    ("GET /v1/cases?token=eyJhbGciOi HTTP/1.1", "GET /v1/cases?token HTTP/1.1"),
    ("POST /v1/cases HTTP/1.1", "POST /v1/cases HTTP/1.1"),
    ("GET /v1/cases?flag HTTP/1.1", "GET /v1/cases?flag HTTP/1.1"),
    ("GARBAGE with secret=Amina in it", "[not an HTTP request line]"),
])
def test_the_access_log_keeps_parameter_names_never_values(line, kept):
    assert names_only(line) == kept


def test_the_access_log_filter_rewrites_eventlets_line():
    record = logging.LogRecord("nameko.web.server", logging.INFO, "", 0,
                               '127.0.0.1 - - [01/Jan/2026 00:00:00] "GET /v1/providers?area=Kakuma HTTP/1.1" '
                               '200 15 0.002', (), None)
    assert AccessLog().filter(record)
    assert record.getMessage() == '127.0.0.1 - - [01/Jan/2026 00:00:00] "GET /v1/providers?area HTTP/1.1" 200 15 0.002'
