"""Who may do what on every recommendations endpoint (`tests.matrix`): `read` recommends and
lists, `write` uploads, `execute` trains; another tenant gets 404."""
from recommendations.models import RecommendationModel
from tenants.policy import Action
from tests.matrix import Case, PermissionMatrix
from tests.recommendations.helpers import add_events, add_items

ITEM = "/api/v1/items/{item}"


class TestRecommendationEndpoints(PermissionMatrix):
    cases = [
        Case("items.list", "get", "/api/v1/items", Action.READ, 200),
        Case("items.upsert", "post", "/api/v1/items", Action.WRITE, 200, {"items": [{"id": "new", "title": "New"}]}),
        Case("items.retrieve", "get", ITEM, Action.READ, 200),
        Case("items.update", "patch", ITEM, Action.WRITE, 200, {"title": "Renamed"}),
        Case("items.delete", "delete", ITEM, Action.WRITE, 204),
        Case("items.similar", "get", ITEM + "/similar", Action.READ, 200),
        Case("interactions.create", "post", "/api/v1/interactions", Action.WRITE, 202,
             {"interactions": [{"user_id": "u9", "item_id": "sku-1", "type": "view"}]}),
        Case("recommendations.create", "post", "/api/v1/recommendations", Action.READ, 200, {"user_id": "u1"}),
        Case("models.list", "get", "/api/v1/recommendation-models", Action.READ, 200),
        Case("models.retrieve", "get", "/api/v1/recommendation-models/{version}", Action.READ, 200),
        Case("models.train", "post", "/api/v1/recommendation-models/train", Action.EXECUTE, 202),
    ]

    def make_data(self, tenant, actor):
        add_items(tenant, ["sku-1", "sku-2"])
        add_events(tenant, [("u1", "sku-1")])
        model = RecommendationModel.objects.create(tenant=tenant, version=1, status=RecommendationModel.Status.FAILED)
        return {"item": "sku-1", "version": model.version}
