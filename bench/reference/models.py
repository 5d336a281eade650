from django.db import models

# ruff: noqa: DJ008 (benchmark fixtures, never displayed)


class Item(models.Model):
    """Shaped like a monitored node: a name, an address, a status and two timestamps."""

    name = models.CharField(max_length=100)
    address = models.CharField(max_length=255)
    port = models.IntegerField()
    status = models.CharField(max_length=20)
    interval_seconds = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)


class ApiKey(models.Model):
    digest = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)


class RequestLog(models.Model):
    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE)
    path = models.CharField(max_length=200)
    status = models.IntegerField()
    at = models.DateTimeField(auto_now_add=True)
