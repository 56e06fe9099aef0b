from django.urls import path

from studies import views, views_rater

app_name = "studies"

urlpatterns = [
    # Researchers (login + permission).
    path("studies/", views.study_list, name="list"),
    path("studies/new", views.study_create_view, name="create"),
    path("studies/<int:pk>/", views.study_detail, name="study"),
    path("studies/<int:pk>/do/<str:action>", views.study_action, name="action"),
    path("studies/<int:pk>/progress", views.study_progress_partial, name="progress"),
    path("studies/<int:pk>/preview/", views.study_preview, name="preview"),
    path("studies/<int:pk>/stimuli/<uuid:uid>/<str:which>", views.stimulus_media, name="stimulus_media"),
    path("studies/<int:pk>/results/", views.study_results, name="results"),
    path("studies/<int:pk>/export.<str:fmt>", views.study_export, name="export"),
    path("runs/<int:pk>/mos/", views.run_mos, name="run_mos"),
    # Raters (no account: signed tokens).
    path("i/<str:token>/", views_rater.invite, name="invite"),
    path("mturk/<uuid:study_uid>/", views_rater.mturk_entry, name="mturk"),
    path("rate/<str:token>/", views_rater.rate, name="rate"),
    path("rate/<str:token>/media/<uuid:stimulus_uid>/<str:which>", views_rater.media, name="media"),
]
