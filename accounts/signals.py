"""Signals accounts sends so the apps above it can take part without accounts importing them.

`session_ended(sender=User, user_id=…)`: a logout raised the account's session version with an
UPDATE (atomic against concurrent logouts, so no `post_save`); whoever caches the account
(the gateway's user snapshots, `apikeys.signals`) drops it, so the older access tokens stop
working at once rather than when the cache expires.

`user_deleting(sender=User, user=…)`: sent inside `user_set_status`'s transaction, with the
user's row locked, before an account is marked deleted. A receiver refuses the deletion by
raising (e.g. `Conflict`; tenants: a tenant's last owner); the exception reaches the caller
unchanged, since `send` (not `send_robust`) does not catch it.
"""
from django.dispatch import Signal

session_ended = Signal()
user_deleting = Signal()
