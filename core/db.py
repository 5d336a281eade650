"""Row writes that never bring a deleted row back.

`Model.save()` on an existing instance runs an UPDATE and, when that matched no row, an INSERT:
a PATCH that loaded a row just before a concurrent DELETE committed re-creates it (with the
PATCH's values and none of what the DELETE cascaded). Services that change an existing
tenant-owned row write it with `save_existing()`, which only ever UPDATEs; a row deleted
meanwhile answers 404, as the same request arriving a moment later would.
"""
from django.db import DatabaseError, models
from django.http import Http404


def save_existing(instance: models.Model, *, update_fields: list[str] | None = None) -> None:
    """UPDATE the instance's row (all fields, or `update_fields`); Http404 if it is gone.

    On PostgreSQL the UPDATE waits for a concurrent DELETE's row lock and then matches nothing,
    so the outcome is the same whichever request commits first.
    """
    try:
        instance.save(force_update=True, update_fields=update_fields)
    except DatabaseError as exc:
        # Django raises the bare DatabaseError itself ("did not affect any rows") without
        # touching the connection; driver errors are subclasses and go on untouched.
        if type(exc) is not DatabaseError:
            raise
        raise Http404(f"This {instance._meta.verbose_name} no longer exists.") from exc
