from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset"),
    path("clips/<int:pk>/", views.clip_detail, name="clip"),
    path("checkpoints/upload/", views.checkpoint_upload, name="checkpoint_upload"),
    path("datasets/<int:pk>/runs/new", views.run_create, name="run_create"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/inputs.tar.gz", views.run_inputs, name="run_inputs"),
    path("runs/<int:pk>/import", views.run_import, name="run_import"),
    path("runs/<int:pk>/samples.csv", views.run_samples_csv, name="run_csv"),
    path("runs/<int:pk>/summary.json", views.run_summary_json, name="run_json"),
]
