"""Retraining without a caller: once enough new interactions arrived (on a real worker), and on
beat's schedule at RECOMMENDER_TRAIN_INTERVAL_MINUTES."""
from datetime import timedelta

from recommendations.models import RecommendationModel
from tests.recommendations.helpers import add_events, two_taste_groups
from tests.recommendations.test_training_worker import settled, wait_for


def versions(tenant):
    return list(RecommendationModel.objects.filter(tenant=tenant).order_by("version").values_list("version", "status"))


def test_enough_new_interactions_train_a_new_version_on_the_worker(live_worker, settings, tenant):
    settings.RECOMMENDER_RETRAIN_AFTER_INTERACTIONS = 300
    two_taste_groups(tenant)  # 480 events in one upload: over the threshold, so version 1 is requested
    assert versions(tenant)[0][0] == 1
    assert wait_for(lambda: settled(tenant, 1)).status == "ready"
    add_events(tenant, [(f"a-user{n}", "a1") for n in range(299)], kind="view")
    assert len(versions(tenant)) == 1  # 299 new events: not yet
    add_events(tenant, [("a-user0", "a2")], kind="view")  # the 300th
    assert [version for version, _status in versions(tenant)] == [1, 2]
    assert wait_for(lambda: settled(tenant, 2)).status == "ready"


def test_uploads_while_a_model_trains_never_start_a_second_training(db, settings, tenant):
    settings.RECOMMENDER_RETRAIN_AFTER_INTERACTIONS = 10
    two_taste_groups(tenant, users_per_group=5)  # no worker here: version 1 stays in training
    assert versions(tenant) == [(1, "training")]
    for n in range(3):
        add_events(tenant, [(f"x{n}-{i}", "b1") for i in range(20)])
    assert versions(tenant) == [(1, "training")]


def test_the_threshold_counts_only_events_since_the_newest_model_and_zero_turns_it_off(db, settings, tenant):
    settings.RECOMMENDER_RETRAIN_AFTER_INTERACTIONS = 0
    two_taste_groups(tenant, users_per_group=5)
    assert versions(tenant) == []
    settings.RECOMMENDER_RETRAIN_AFTER_INTERACTIONS = 100
    add_events(tenant, [("late", "a1")])  # 61 events in all, but none of them since a model: the first model
    assert versions(tenant) == []
    add_events(tenant, [(f"u{i}", "a3") for i in range(39)])
    assert versions(tenant) == [(1, "training")]


def test_beat_sends_the_training_check_at_the_configured_interval(settings):
    """What beat reads (the Celery app's beat_schedule, synced into django-celery-beat's table at
    start-up) names a registered task at RECOMMENDER_TRAIN_INTERVAL_MINUTES; the worker side of
    that task is tests/recommendations/test_training_worker.py."""
    from config.celery import app

    entry = app.conf.beat_schedule["recommendations-train-due"]
    assert entry["task"] in app.tasks
    assert timedelta(seconds=entry["schedule"]) == timedelta(minutes=settings.RECOMMENDER_TRAIN_INTERVAL_MINUTES)
