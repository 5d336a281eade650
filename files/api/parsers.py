"""Multipart uploads for `POST /api/v1/files`: the sha256 is computed while the file streams
in (no second read) and the size limit is enforced while it arrives (413 at the first byte
over, not after the whole body was spooled)."""
import hashlib

from django.conf import settings
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from rest_framework.parsers import MultiPartParser

from core.api.exceptions import PayloadTooLarge


class HashingUploadHandler(TemporaryFileUploadHandler):
    """Spools each file to a temporary file (never memory), hashing and counting its bytes."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.sha256 = hashlib.sha256()
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.FILES_MAX_SIMPLE_UPLOAD_BYTES
        if self.received > limit:
            raise PayloadTooLarge(f"A simple upload is limited to {limit} bytes; use a resumable upload (tus).")
        self.sha256.update(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def file_complete(self, file_size):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self.sha256.hexdigest()
        return uploaded


class HashingMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        request._request.upload_handlers = [HashingUploadHandler(request._request)]
        return super().parse(stream, media_type=media_type, parser_context=parser_context)
