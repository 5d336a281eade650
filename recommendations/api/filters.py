"""django-filter filter sets of the recommendations API."""
import django_filters

from recommendations.models import Item, RecommendationModel


class ItemFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(method="filter_category", help_text="Items in this category (exact).")
    hidden = django_filters.BooleanFilter()

    class Meta:
        model = Item
        fields = ["category", "hidden"]

    def filter_category(self, queryset, name, value):
        return queryset.filter(category_rows__name=value)


class RecommendationModelFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RecommendationModel.Status.choices)

    class Meta:
        model = RecommendationModel
        fields = ["status"]
