"""Signals of the accounts app for what its saves do not announce.

`session_ended(sender=User, user_id=…)`: a logout raised the account's session version with an
UPDATE (atomic against concurrent logouts, so no `post_save`); whoever caches the account
(the gateway's user snapshots, `apikeys.signals`) drops it, so the older access tokens stop
working at once rather than when the cache expires.
"""
from django.dispatch import Signal

session_ended = Signal()
