"""The presented credential is read from the headers once, and malformed headers are told apart."""
import pytest
from django.test import RequestFactory

from core.api.credential import MalformedAuthorization, presented_credential

factory = RequestFactory()


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"HTTP_AUTHORIZATION": "Bearer gsk_abc"}, "gsk_abc"),
    ({"HTTP_AUTHORIZATION": "  bearer   eyJ.x.y  "}, "eyJ.x.y"),
    ({"HTTP_X_API_KEY": " gsk_abc "}, "gsk_abc"),
    ({"HTTP_X_API_KEY": "  "}, None),
])
def test_the_credential_comes_from_the_bearer_header_or_x_api_key(headers, expected):
    assert presented_credential(factory.get("/", **headers)) == expected


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token gsk_abc"])
def test_an_authorization_header_of_another_shape_is_malformed_and_x_api_key_is_not_consulted(header):
    request = factory.get("/", HTTP_AUTHORIZATION=header, HTTP_X_API_KEY="gsk_abc")
    with pytest.raises(MalformedAuthorization):
        presented_credential(request)


def test_the_headers_are_read_once_per_request():
    request = factory.get("/", HTTP_AUTHORIZATION="Bearer first")
    assert presented_credential(request) == "first"
    request.META["HTTP_AUTHORIZATION"] = "Bearer second"
    assert presented_credential(request) == "first"
