"""OpenAPI post-processing: every operation documents the error envelope it can answer with.

The envelope is one component (`ErrorEnvelope`); operations gain 400/401/403/404/429 (and
413/415 where they take a body) unless they already describe those codes themselves, so
schema-conformance checks (e.g. Schemathesis) hold the API to its real error contract.

`add_links` adds OpenAPI links from every create to the operations on what it created (read,
update, delete, actions), so a stateful client (Schemathesis' stateful phase) can walk the
create → read → update → delete chains with real ids. `staff_last` puts the staff endpoints
at the end of the docs.
"""

ERROR_COMPONENT = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id", "timestamp"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "VALIDATION_ERROR",
                        "TENANT_REQUIRED",
                        "AUTHENTICATION_FAILED",
                        "EMAIL_NOT_VERIFIED",
                        "FORBIDDEN",
                        "NOT_FOUND",
                        "METHOD_NOT_ALLOWED",
                        "CONFLICT",
                        "PAYLOAD_TOO_LARGE",
                        "UNSUPPORTED_MEDIA_TYPE",
                        "RATE_LIMIT_EXCEEDED",
                        "INTERNAL_ERROR",
                        "SERVICE_UNAVAILABLE",
                    ],
                },
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
                "request_id": {"type": "string"},
                "timestamp": {"type": "string", "format": "date-time"},
            },
        }
    },
}
DESCRIPTIONS = {
    "400": "Invalid input (VALIDATION_ERROR) or no tenant named (TENANT_REQUIRED).",
    "401": "Missing, invalid, expired or revoked credential.",
    "403": "Authenticated but not allowed (role, scope, suspended tenant, unverified e-mail).",
    "404": "Not found, or owned by another tenant.",
    "409": "Conflicts with the current state.",
    "413": "Request body too large.",
    "415": "Unsupported media type.",
    "429": "Rate limit exceeded; see Retry-After.",
    "503": "A dependency is unavailable.",
}
BODY_METHODS = {"post", "put", "patch"}
# DRF refuses NUL characters in every string field; the schema says so.
NO_NUL_PATTERN = "^[^\\u0000]*$"


def _error_response(code: str) -> dict:
    response = {
        "description": DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    if code == "429":
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return response


def _forbid_nul_in_request_strings(schemas: dict) -> None:
    for name, component in schemas.items():
        if not name.endswith("Request"):
            continue
        for prop in component.get("properties", {}).values():
            if prop.get("type") == "string" and not ({"format", "pattern", "enum"} & prop.keys()):
                prop["pattern"] = NO_NUL_PATTERN


def add_error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_COMPONENT
    _forbid_nul_in_request_strings(schemas)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = ["400", "401", "403", "404", "429", "503"]
            if method in BODY_METHODS:
                codes += ["409", "413", "415"]
            elif method == "delete":
                codes.append("409")
            for code in codes:
                operation["responses"].setdefault(code, _error_response(code))
    return result


# Creates whose result is found under another collection (a run, an execution).
CREATED_ELSEWHERE = {
    ("/api/v1/clusters/{id}/trigger/", "post"): "/api/v1/runs/{id}/",
    ("/api/v1/satellites/{name}/execute/", "post"): "/api/v1/executions/{id}/",
}
LINKED_METHODS = ("get", "put", "patch", "delete", "post")


def _created_schema(result: dict, operation: dict) -> tuple[str, dict] | None:
    for code in ("201", "202"):
        ref = operation.get("responses", {}).get(code, {}).get("content", {}).get("application/json", {}) \
            .get("schema", {}).get("$ref", "")
        if ref:
            return code, result["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
    return None


def _links_to(paths: dict, target_prefix: str, source_path: str, schema: dict) -> dict:
    """Links to every operation under `target_prefix{param}/…` whose new parameter the body carries."""
    links = {}
    properties = schema.get("properties", {})
    for path, operations in paths.items():
        if not path.startswith(target_prefix) or path == target_prefix:
            continue
        rest = path[len(target_prefix):]
        if not rest.startswith("{"):
            continue
        param = rest[1:rest.index("}")]
        if param not in properties:
            continue
        inherited = [name for name in _path_params(source_path) if name in _path_params(path)]
        for method in LINKED_METHODS:
            operation = operations.get(method)
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            parameters = {param: f"$response.body#/{param}"}
            parameters.update({name: f"$request.path.{name}" for name in inherited})
            links[operation["operationId"]] = {"operationId": operation["operationId"], "parameters": parameters}
    return links


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.strip("/").split("/") if part.startswith("{")]


def add_links(result, generator, request, public):
    paths = result.get("paths", {})
    for path, operations in paths.items():
        operation = operations.get("post")
        if not isinstance(operation, dict):
            continue
        created = _created_schema(result, operation)
        if created is None:
            continue
        code, schema = created
        target = CREATED_ELSEWHERE.get((path, "post"))
        target_prefix = target[: target.index("{")] if target else path
        links = _links_to(paths, target_prefix, path, schema)
        if links:
            operation["responses"][code].setdefault("links", {}).update(links)
    return result


STAFF_TAG = "staff"
STAFF_DESCRIPTION = "Platform operators' endpoints (staff users only): tenants, plans and the like across tenants."


def staff_last(result, generator, request, public):
    """Staff endpoints come last in the docs: the paths whose operations are all tagged `staff`
    move to the end, and the top-level tag list (the order Swagger UI and ReDoc show) is every
    other tag in order of first use, then `staff`."""
    paths = result.get("paths", {})

    def tags_of(operations: dict) -> set[str]:
        return {tag for op in operations.values() if isinstance(op, dict) for tag in op.get("tags", [])}

    staff = [path for path, operations in paths.items() if tags_of(operations) == {STAFF_TAG}]
    result["paths"] = {**{p: o for p, o in paths.items() if p not in staff}, **{p: paths[p] for p in staff}}
    order: list[str] = []
    for operations in result["paths"].values():
        for op in operations.values():
            for tag in op.get("tags", []) if isinstance(op, dict) else []:
                if tag != STAFF_TAG and tag not in order:
                    order.append(tag)
    result["tags"] = [{"name": tag} for tag in order] + ([{"name": STAFF_TAG, "description": STAFF_DESCRIPTION}]
                                                        if staff else [])
    return result
