"""Reads of the recommendations app (answers themselves are computed in `serving.py`)."""
from recommendations.models import Item, RecommendationModel


def item_list(*, tenant, category: str | None = None):
    items = Item.objects.for_tenant(tenant)
    if category:
        items = items.filter(category_rows__name=category)
    return items


def item_get(*, tenant, external_id: str) -> Item:
    return Item.objects.for_tenant(tenant).get(external_id=external_id)


def model_list(*, tenant):
    return RecommendationModel.objects.for_tenant(tenant)
