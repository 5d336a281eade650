"""The OpenAPI description of the API's one authentication class (registered on import, in `ready()`)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerCredentialScheme(OpenApiAuthenticationExtension):
    """One bearer scheme for JWTs, personal tokens and API keys, plus the X-API-Key header."""

    target_class = "apikeys.authentication.BearerCredentialAuthentication"
    name = ["bearerAuth", "apiKeyHeader"]

    def get_security_requirement(self, auto_schema):
        # Either one, not both: a list of requirements is an OR in OpenAPI.
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "A JWT access token, a personal access token (gsp_…) or a tenant API key (gsk_…).",
            },
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]
