"""Files made through the services, as the API would."""
import hashlib

from django.core.files.uploadedfile import SimpleUploadedFile

from files import services


def make_file(tenant, content: bytes = b"%PDF-1.7 hello", *, name: str = "doc.pdf", created_by=None):
    upload = SimpleUploadedFile(name, content)
    upload.sha256 = hashlib.sha256(content).hexdigest()
    return services.file_create(tenant=tenant, upload=upload, created_by=created_by)
