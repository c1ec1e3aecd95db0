"""CORS_ORIGINS names origins exactly: a wildcard or anything but scheme://host[:port] stops the
gateway at start with the variable named, rather than opening the API to every page."""
import pytest

from services.gateway.cors import CorsOrigins


def test_origins_are_read_exactly_as_browsers_send_them():
    origins = CorsOrigins.parse(" https://App.Example.org/ , http://127.0.0.1:8080,")
    assert origins.origins == {"https://app.example.org", "http://127.0.0.1:8080"}
    assert origins.allows("https://app.example.org") and not origins.allows("https://app.example.org:443")
    assert not origins.allows(None) and not CorsOrigins.parse("").allows("https://app.example.org")


@pytest.mark.parametrize("setting", ["*", "null", "app.example.org", "https://*.example.org",
                                     "https://app.example.org/path", "ftp://app.example.org"])
def test_anything_but_an_origin_is_refused_naming_the_variable(setting):
    with pytest.raises(RuntimeError, match="CORS_ORIGINS"):
        CorsOrigins.parse(setting)
