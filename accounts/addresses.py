"""One normal form for e-mail addresses, used for storage, lookups, uniqueness, invitations and
rate-limit keys alike (docs/accounts-and-tenants.md, "E-mail addresses").

NFKC folds compatibility look-alikes (the Kelvin sign `K` is `K`, full-width letters are
ASCII); upper-casing before case-folding also folds the dotless `ı` to `i`, which case-folding
alone keeps (PostgreSQL's UPPER() folds it, SQLite's LIKE does not, so comparing in the
database meant two answers). Django's validator accepts `ı`, `ſ` and `K` in a local part
because its ASCII pattern is matched case-insensitively, so these are exactly the squats it
lets through. The whole address is folded, domain included (domains are case-insensitive and
IDNA maps them the same way), so the stored form can be compared with `=` in any database.
"""
import unicodedata


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).upper().casefold())


def normalize_email(address: str | None) -> str:
    folded = (address or "").strip()
    for _ in range(4):  # a handful of characters need a second pass to reach a fixed point
        again = _fold(folded)
        if again == folded:
            break
        folded = again
    return folded
