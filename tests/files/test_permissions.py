"""The permission matrix of the files API (tests/matrix.py): roles, key scopes, anonymous,
another tenant (404) and a suspended tenant, for every endpoint, from the policy table."""
from files import services
from tenants.policy import Action
from tests.files.factories import make_file
from tests.matrix import Case, PermissionMatrix


class TestFilesPermissionMatrix(PermissionMatrix):
    cases = [
        Case("list files", "get", "/api/v1/files", Action.READ, 200),
        Case("get a file", "get", "/api/v1/files/{file}", Action.READ, 200),
        Case("download", "get", "/api/v1/files/{file}/content", Action.READ, 200),
        Case("access log", "get", "/api/v1/files/{file}/access-log", Action.OPERATE, 200),
        Case("delete a file", "delete", "/api/v1/files/{file}", Action.WRITE, 204),
        Case("list shares", "get", "/api/v1/files/{file}/shares", Action.READ, 200),
        Case("share", "post", "/api/v1/files/{file}/shares", Action.WRITE, 201, body={"max_downloads": 3}),
        Case("revoke a share", "delete", "/api/v1/files/{file}/shares/{share}", Action.WRITE, 204),
    ]

    def make_data(self, tenant, actor) -> dict:
        file = make_file(tenant, created_by=actor)
        share, _token = services.share_create(file=file, created_by=actor)
        return {"file": file.pk, "share": share.pk}
