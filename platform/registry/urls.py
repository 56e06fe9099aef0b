from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset"),
    path("clips/<int:pk>/", views.clip_detail, name="clip"),
]
