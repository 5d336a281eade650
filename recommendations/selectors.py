"""Reads of the recommendations app (answers themselves are computed in `serving.py`)."""
from recommendations.models import Interaction, Item, RecommendationModel


def item_list(*, tenant, category: str | None = None):
    items = Item.objects.for_tenant(tenant)
    if category:
        items = items.filter(category_rows__name=category)
    return items


def item_get(*, tenant, external_id: str) -> Item:
    return Item.objects.for_tenant(tenant).get(external_id=external_id)


def model_list(*, tenant):
    return RecommendationModel.objects.for_tenant(tenant)


def user_history(*, tenant, user_id: str, limit: int = 50):
    """A user's newest interactions with their items (the admin's preview)."""
    return (Interaction.objects.for_tenant(tenant).filter(user_id=user_id).select_related("item")
            .order_by("-timestamp")[:limit])


def user_interaction_count(*, tenant, user_id: str, cap: int = 10_000) -> int:
    """How many interactions the user has, counted up to `cap` (a bounded count)."""
    return Interaction.objects.for_tenant(tenant).filter(user_id=user_id).values("pk")[:cap].count()
