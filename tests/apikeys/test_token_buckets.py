"""Token buckets (`N/<unit> burst M`): parsing, burst then refill, exactness under concurrency,
and buckets mixed with fixed windows — in the store the deployment uses (Redis in CI, the
local-memory cache in the embedded default) and in the local store explicitly."""
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ValidationError

from apikeys.gateway.store import LocalStore, get_store
from core.rates import Rate, parse_rate, parse_rates

T0 = 1_800_000_001.0


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("10/s burst 20", Rate(10, 1, 20)),
        ("  100/m   burst 5 ", Rate(100, 60, 5)),
        ("1000/m", Rate(1000, 60)),
    ],
)
def test_a_rate_with_a_burst_is_a_bucket_and_reads_back_the_same(text, rate):
    assert parse_rate(text) == rate
    assert parse_rate(rate.text) == rate


@pytest.mark.parametrize("text", [
    "10/s burst 0", "10/s burst", "burst 20", "10/s burst 20x", "10/w burst 2", "0/s burst 1",
])
def test_a_malformed_bucket_is_refused_with_the_syntax(text):
    with pytest.raises(ValidationError, match='like "100/m" or "10/s burst 20"'):
        parse_rate(text)


def test_one_window_and_one_bucket_may_share_a_unit_but_not_two_of_a_kind():
    assert len(parse_rates(["10/s", "10/s burst 20"])) == 2
    with pytest.raises(ValidationError, match="one window and one bucket per unit"):
        parse_rates(["10/s burst 5", "20/s burst 9"])


def _snapshot(limits):
    return {"kind": "key", "digest": "d", "expires": None, "revoked": False, "set": {"tenant": None, "limits": limits}}


def _checker(store, limits):
    cache_key = f"gs:test:{uuid.uuid4().hex}"

    def check(now):
        return store.check(
            cache_key, lambda: _snapshot(limits), selector="", extra=[], now=now, count=True, ttl=60, digest="d"
        )

    return check


@pytest.fixture(params=["deployed", "local"])
def store(request, db):
    return get_store() if request.param == "deployed" else LocalStore(LocMemCache("buckets", {}))


def test_a_bucket_allows_its_burst_at_once_then_refills_at_its_rate(store):
    check = _checker(store, [[f"b:{uuid.uuid4().hex}", 10, 1, 20]])
    first = [check(T0) for _ in range(21)]
    assert [r.blocked for r in first] == [False] * 20 + [True]
    assert [int(r.counts[0]) for r in first[:3]] == [19, 18, 17]
    assert not any(r.blocked for r in (check(T0 + 0.5) for _ in range(5)))  # 0.5 s at 10/s: 5 tokens
    assert check(T0 + 0.5).blocked
    full = [check(T0 + 60) for _ in range(21)]  # refilled to the burst, never past it
    assert [r.blocked for r in full].count(False) == 20


def test_a_rejected_request_spends_no_token_and_the_tightest_limit_wins(store):
    bucket, window = f"b:{uuid.uuid4().hex}", f"w:{uuid.uuid4().hex}"
    check = _checker(store, [[window, 15, 60], [bucket, 10, 1, 20]])
    results = [check(T0) for _ in range(18)]
    assert [r.blocked for r in results] == [False] * 15 + [True] * 3  # the window, before the bucket
    assert results[14].counts == [15, 5.0]
    assert results[-1].counts == [15, 5.0]  # the three refusals took no token


def test_a_bucket_is_exact_under_concurrency(store):
    check = _checker(store, [[f"b:{uuid.uuid4().hex}", 1, 3600, 25]])
    with ThreadPoolExecutor(max_workers=16) as pool:
        blocked = list(pool.map(lambda _: check(T0).blocked, range(80)))
    assert blocked.count(False) == 25 and blocked.count(True) == 55
