"""Bare Celery tasks doing what the orchestration benchmark's `echo` steps do, for comparison.

Loaded by the benchmark's workers with `celery -A config worker -I bench.orchestration_tasks`.
Completion is signalled in Redis (no result backend), and the fan-in is the classic counter:
each branch INCRs, the last one sends the join — what a chord does under the hood.
"""
import os
import time

import redis
from celery import group, shared_task

_redis = None


def r() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _redis


@shared_task(name="bench.echo", ignore_result=True)
def bare_echo(payload, bench_id: str, index: int, total: int):
    """One link of a chain: returns its payload (handed to the next link by Celery)."""
    if index == total - 1:
        r().set(f"bench:{bench_id}:done", time.time())
    return {"message": payload["message"], "index": index}


@shared_task(name="bench.fan_start", ignore_result=True)
def fan_start(bench_id: str, width: int):
    group(fan_branch.s(bench_id, i, width) for i in range(width)).apply_async()


@shared_task(name="bench.fan_branch", ignore_result=True)
def fan_branch(bench_id: str, index: int, width: int):
    if r().incr(f"bench:{bench_id}:count") == width:
        fan_join.delay(bench_id)
    return {"message": "hi", "index": index}


@shared_task(name="bench.fan_join", ignore_result=True)
def fan_join(bench_id: str):
    r().set(f"bench:{bench_id}:done", time.time())
