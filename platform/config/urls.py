from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from registry.access import researcher_required
from registry.media import serve_media
from registry.views import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("registry.urls")),
    path("", include("studies.urls")),
]

if settings.SERVE_MEDIA and settings.STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    # Embedded default and tests only; production serves media from S3 or the front proxy. These are
    # the researcher's files (their names say which system made a clip): researchers only. Raters get
    # their clips through studies' per-assignment media view.
    media_prefix = settings.MEDIA_URL.lstrip("/")
    urlpatterns.append(
        re_path(rf"^{media_prefix}(?P<path>.+)$", researcher_required(serve_media), name="media")
    )
