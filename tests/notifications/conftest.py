from tests.accounts.conftest import outbox  # noqa: F401  (sent mail, tasks eager after a real commit)
from tests.console.conftest import admin_site_client, superuser  # noqa: F401
