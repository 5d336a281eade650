"""One URL names where a storage keeps its bytes (`FILES_STORAGE_URL`), turned into a
`STORAGES` entry for Django's storage API (django-storages for S3).

- `file:///abs/path` or empty: the folder (the embedded default is `var/files`);
- `s3://bucket/optional/prefix?endpoint_url=https://…&region=…&addressing_style=path`: any
  S3-compatible store (AWS, MinIO, Ceph, R2…). Credentials come from `AWS_ACCESS_KEY_ID` /
  `AWS_SECRET_ACCESS_KEY` (or boto3's own chain: instance roles, `~/.aws`), never from the URL,
  so the URL can be logged and shown to operators.
"""
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

S3_QUERY_OPTIONS = {"endpoint_url": "endpoint_url", "region": "region_name", "addressing_style": "addressing_style"}


def storage_from_url(url: str, *, default_location: Path, access_key: str = "", secret_key: str = "") -> dict:
    if not url:
        return _filesystem(default_location)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc:
            raise ImproperlyConfigured(f"FILES_STORAGE_URL: a file URL has no host ({url!r}); use file:///abs/path.")
        return _filesystem(Path(parts.path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ImproperlyConfigured("FILES_STORAGE_URL: an s3 URL names its bucket: s3://bucket/prefix.")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - set(S3_QUERY_OPTIONS)
        if unknown:
            raise ImproperlyConfigured(f"FILES_STORAGE_URL: unknown s3 options {sorted(unknown)}.")
        options = {
            "bucket_name": parts.netloc,
            "location": parts.path.strip("/"),
            # Objects are private; downloads go through the API (access log, shares, quotas).
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": True,  # keys are the platform's own (tenant + id), never a client's name
            **{S3_QUERY_OPTIONS[key]: value for key, value in query.items()},
        }
        if access_key:
            options.update(access_key=access_key, secret_key=secret_key)
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    raise ImproperlyConfigured(f"FILES_STORAGE_URL: scheme {parts.scheme!r} is not file:// or s3://.")


def _filesystem(location: Path) -> dict:
    return {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No base_url: the bytes are never served by URL, only through the API.
        "OPTIONS": {"location": str(location), "file_permissions_mode": 0o600, "directory_permissions_mode": 0o700},
    }
