"""Recommendations API: thin viewsets over the services, `training` and `serving`."""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from core.api.exceptions import Conflict
from core.api.tenancy import TenantScopedViewSet
from recommendations import services, serving, training
from recommendations.api import filters
from recommendations.api import serializers as s
from recommendations.api.permissions import INTERACTION_POLICY, ITEM_POLICY, MODEL_POLICY, RECOMMENDATION_POLICY
from recommendations.models import Item, RecommendationModel

TAGS = ["recommendations"]


@extend_schema(tags=TAGS)
class ItemViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                  mixins.DestroyModelMixin, TenantScopedViewSet):
    """The catalogue, addressed by the tenant's own item ids."""

    queryset = Item.objects.all()
    serializer_class = s.ItemSerializer
    filterset_class = filters.ItemFilter
    lookup_field = "external_id"
    lookup_url_kwarg = "id"
    ordering_fields = ["external_id", "title", "created_at", "updated_at"]
    ordering = ["external_id"]
    action_policy = ITEM_POLICY
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @extend_schema(request=s.ItemBatchDocSerializer, responses={200: s.ItemUpsertResultSerializer},
                   summary="Upsert up to 1,000 items by id; bad items are rejected one by one")
    def create(self, request):
        batch = s.ItemBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        valid, rejected, seen = [], [], set()
        for index, raw in enumerate(batch.validated_data["items"]):
            item = s.ItemInputSerializer(data=raw)
            if not item.is_valid():
                rejected.append({"index": index, "errors": item.errors})
                continue
            data = dict(item.validated_data)
            data["external_id"] = data.pop("id")
            if data["external_id"] in seen:
                rejected.append({"index": index, "errors": {"id": ["This id appears earlier in the request."]}})
                continue
            seen.add(data["external_id"])
            valid.append(data)
        result = services.item_upsert_many(tenant=self.tenant, items=valid, actor=self.actor())
        return Response({"created": result.created, "updated": result.updated, "rejected": rejected})

    @extend_schema(request=s.ItemUpdateSerializer, responses=s.ItemSerializer, summary="Change an item")
    def partial_update(self, request, *args, **kwargs):
        item = self.get_object()
        changes = s.ItemUpdateSerializer(data=request.data, partial=True)
        changes.is_valid(raise_exception=True)
        item = services.item_update(item=item, **changes.validated_data)
        return Response(s.ItemSerializer(item).data)

    @extend_schema(summary="Delete an item: it leaves every answer at once")
    def destroy(self, request, *args, **kwargs):
        services.item_delete(item=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[s.SimilarQuerySerializer], responses=s.SimilarItemsSerializer,
                   summary="Items similar to this one")
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def similar(self, request, id=None):
        query = s.SimilarQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(serving.similar(tenant=self.tenant, item=self.get_object(),
                                        count=query.validated_data["count"]))


@extend_schema(tags=TAGS)
class InteractionViewSet(TenantScopedViewSet):
    """Users' interactions with items (append-only)."""

    queryset = Item.objects.none()
    serializer_class = s.InteractionBatchSerializer
    action_policy = INTERACTION_POLICY

    @extend_schema(request=s.InteractionBatchDocSerializer, responses={202: s.IngestResultSerializer},
                   summary="Record up to 10,000 interactions; bad events are rejected one by one")
    def create(self, request):
        batch = s.InteractionBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        result = services.interactions_ingest(tenant=self.tenant, events=batch.validated_data["interactions"])
        return Response({"accepted": result.accepted, "duplicates": result.duplicates,
                         "rejected": result.rejected}, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=TAGS)
class RecommendationViewSet(TenantScopedViewSet):
    """Recommendations for one of the tenant's users."""

    queryset = Item.objects.none()
    serializer_class = s.RecommendationRequestSerializer
    action_policy = RECOMMENDATION_POLICY

    @extend_schema(request=s.RecommendationRequestSerializer, responses={200: s.RecommendationSerializer},
                   summary="Recommend items to a user (popular ones for a user with no history)")
    def create(self, request):
        query = s.RecommendationRequestSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        return Response(serving.recommend(tenant=self.tenant, **query.validated_data))


@extend_schema(tags=TAGS)
class RecommendationModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    """Trained model versions; the newest `ready` one serves."""

    queryset = RecommendationModel.objects.all()
    serializer_class = s.RecommendationModelSerializer
    filterset_class = filters.RecommendationModelFilter
    lookup_field = "version"
    lookup_value_regex = r"\d+"
    ordering_fields = ["version", "created_at"]
    ordering = ["-version"]
    action_policy = MODEL_POLICY

    @extend_schema(request=None, responses={202: s.RecommendationModelSerializer},
                   summary="Train a new model version on a worker")
    @action(detail=False, methods=["post"])
    def train(self, request):
        try:
            model = training.model_train_request(tenant=self.tenant, actor=self.actor())
        except training.TrainingInProgress:
            raise Conflict("A model of this tenant is already training; wait for it to finish.")
        return Response(s.RecommendationModelSerializer(model).data, status=status.HTTP_202_ACCEPTED)
