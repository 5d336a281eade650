from django.urls import path

from bench.reference import views

urlpatterns = [
    path("json", views.bare_json),
    path("drf/items", views.BareList.as_view()),
    path("typical/items", views.TypicalList.as_view()),
]
