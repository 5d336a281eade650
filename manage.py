#!/usr/bin/env python
"""Django's command-line utility for Groundstation."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except Exception as error:
        # A missing or invalid setting is the operator's to fix: say which, without a traceback.
        # Django may chain an AppRegistryNotReady onto it, so look down the chain.
        cause = error
        while cause is not None and not isinstance(cause, ImproperlyConfigured):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            raise
        sys.exit(f"Configuration error: {cause}")


if __name__ == "__main__":
    main()
