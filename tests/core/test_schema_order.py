"""Staff endpoints come last in the API docs (core.api.schema.staff_last)."""
from drf_spectacular.generators import SchemaGenerator


def test_staff_paths_and_their_tag_come_last():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    tags = [tag["name"] for tag in schema["tags"]]
    assert tags[-1] == "staff" and tags.count("staff") == 1
    assert {"auth", "tenants", "monitoring"} <= set(tags)
    staff = [path.startswith("/api/admin/") for path in schema["paths"]]
    assert any(staff)
    first_staff = staff.index(True)
    assert all(staff[first_staff:]) and not any(staff[:first_staff])
    used = {t for ops in schema["paths"].values() for op in ops.values() if isinstance(op, dict)
            for t in op.get("tags", [])}
    assert set(tags) == used  # every tag listed, none made up
