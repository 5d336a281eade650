"""`GET /s/{token}`: a share link. No credential; a link that is unknown, expired, revoked or
used up is the same 404 (it reveals nothing, not even that the file exists)."""
from django.http import Http404
from django.views.decorators.http import require_GET

from core.api.client_ip import client_ip
from files import downloads, services
from files.models import FileAccessLog


@require_GET
def share_download(request, token: str):
    if len(token) > 128:
        raise Http404()
    share = services.share_claim_download(token=token)
    if share is None:
        raise Http404()
    accessor = downloads.Accessor(via=FileAccessLog.Via.SHARE, ip=client_ip(request), share_id=share.pk)
    # `no-store`: a shared proxy must not serve a counted download to the next person.
    return downloads.download_response(request, share.file, accessor, cache_control="private, no-store")
