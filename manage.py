#!/usr/bin/env python
"""Django's command-line utility for Groundstation."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        # Load the settings before Django does: it swallows this error and later fails with an
        # unrelated AppRegistryNotReady. A missing or invalid setting is the operator's to fix.
        settings.INSTALLED_APPS  # noqa: B018 - the attribute access is the load
    except ImproperlyConfigured as error:
        sys.exit(f"Configuration error: {error}")
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
