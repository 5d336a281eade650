from django.urls import path, re_path

from core.api.routers import OptionalSlashRouter
from files.api import public, tus, views

router = OptionalSlashRouter()
router.register("files", views.FileViewSet, basename="file")

UUID = r"[0-9a-fA-F-]{36}"
shares = views.FileShareViewSet

urlpatterns = [
    re_path(rf"^files/(?P<file_pk>{UUID})/shares/?$", shares.as_view({"get": "list", "post": "create"}),
            name="file-share-list"),
    re_path(rf"^files/(?P<file_pk>{UUID})/shares/(?P<pk>{UUID})/?$", shares.as_view({"delete": "destroy"}),
            name="file-share-detail"),
    re_path(r"^uploads/?$", tus.TusUploadViewSet.as_view({"post": "create", "options": "discover"}),
            name="upload-list"),
    re_path(rf"^uploads/(?P<pk>{UUID})/?$", tus.TusUploadViewSet.as_view(
        {"head": "offset", "patch": "append", "delete": "terminate", "options": "discover"}
    ), name="upload-detail"),
    *router.urls,
]
# Outside /api/: a share link needs no credential and bypasses the gateway (nothing to meter per tenant).
public_urlpatterns = [path("s/<str:token>", public.share_download, name="file-share-download")]
