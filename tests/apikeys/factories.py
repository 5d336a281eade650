"""Keys for tests, minted through the service as the API does."""
from apikeys import services


def make_key(tenant, *, scopes=("read", "write", "execute", "admin"), rate_limit="", expires_at=None, name="k"):
    """Returns (ApiKey, full secret)."""
    return services.api_key_create(
        tenant=tenant, name=name, scopes=list(scopes), rate_limit=rate_limit, expires_at=expires_at
    )
