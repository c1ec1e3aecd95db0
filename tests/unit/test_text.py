"""The two kinds of text: a single line, and free text that may span lines."""
import pytest
from marshmallow import Schema, ValidationError

from shared.text import Email, Line, Text, Url, refusal


class Note(Schema):
    name = Line()
    notes = Text()
    email = Email()
    url = Url()


@pytest.mark.parametrize("value", ["Amina", "Ñandú 東京 🙂", "O'Brien; DROP TABLE", " spaced  out ", ""])
def test_ordinary_text_is_a_line_and_free_text(value):
    assert Note().load({"name": value, "notes": value}) == {"name": value, "notes": value}


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\ud800", "\udfff"])
def test_nul_controls_and_lone_surrogates_are_refused_everywhere(char):
    with pytest.raises(ValidationError) as refused:
        Note().load({"name": f"x{char}", "notes": f"x{char}y"})
    assert set(refused.value.messages) == {"name", "notes"}


@pytest.mark.parametrize("char", ["\t", "\n", "\r"])
def test_tab_and_line_breaks_only_in_free_text(char):
    assert Note().load({"notes": f"first{char}second"}) == {"notes": f"first{char}second"}
    with pytest.raises(ValidationError) as refused:
        Note().load({"name": f"first{char}second"})
    assert "single line" in refused.value.messages["name"][0]


def test_the_message_names_the_character_and_what_is_wrong():
    assert refusal("a\x00b") == "Holds a control character (U+0000)."
    assert "unpaired surrogate (U+D800)" in refusal("\ud800")
    assert refusal("a\nb", free_text=True) is None
    assert refusal("a\nb") is not None


def test_emails_and_urls_refuse_what_marshmallow_lets_through():
    with pytest.raises(ValidationError):
        Note().load({"email": '"\x01"@example.org'})
    with pytest.raises(ValidationError):
        Note().load({"url": "http://example.org/a\x00b"})
    assert Note().load({"email": "a@example.org", "url": "https://example.org/x"})


def test_non_strings_are_still_refused_as_strings():
    with pytest.raises(ValidationError) as refused:
        Note().load({"name": 3})
    assert refused.value.messages == {"name": ["Not a valid string."]}
