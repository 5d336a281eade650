"""The credential a request presents: `Authorization: Bearer <credential>` or `X-API-Key: <credential>`.

Read from the headers once per request and kept on it: the gateway middleware (before the
view) and the authentication class (in the view) both ask. What kind of credential it is and
whether it is any good is the domains' business (`apikeys.authentication`); this only reads
headers, so the two can never disagree about what was presented.
"""

_CACHE_ATTRIBUTE = "_presented_credential"


class MalformedAuthorization(Exception):
    """An `Authorization` header that is not `Bearer <one credential>`."""


def _parse(meta) -> tuple[str | None, bool]:
    """(credential or None, malformed)."""
    header = meta.get("HTTP_AUTHORIZATION", "")
    if isinstance(header, bytes):
        header = header.decode("latin-1")
    header = header.strip()
    if header:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value or " " in value:
            return None, True
        return value, False
    return meta.get("HTTP_X_API_KEY", "").strip() or None, False


def presented_credential(request) -> str | None:
    """The presented credential, or None when there is none; a Django or a DRF request.

    Raises `MalformedAuthorization` for an `Authorization` header of another scheme or shape
    (the X-API-Key header is not consulted then: the caller said how they authenticate)."""
    request = getattr(request, "_request", request)  # a DRF request wraps Django's
    parsed = request.__dict__.get(_CACHE_ATTRIBUTE)
    if parsed is None:
        parsed = _parse(request.META)
        setattr(request, _CACHE_ATTRIBUTE, parsed)
    credential, malformed = parsed
    if malformed:
        raise MalformedAuthorization()
    return credential
