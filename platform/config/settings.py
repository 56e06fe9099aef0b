"""Settings, all from the environment (see .env.example for every variable).

With nothing set this is the embedded default: SQLite under var/, tasks run in-process (eager), media
under var/media. DATABASE_URL and CELERY_BROKER_URL switch the same code to PostgreSQL, Redis and
separate worker processes.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_rate, env_str, parse_database_url

PLATFORM_DIR = Path(__file__).resolve().parent.parent
BASE_DIR = PLATFORM_DIR.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    # Debug only: a per-checkout key keeps sessions across restarts without committing a secret.
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        import secrets

        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = key_file.read_text().strip()
elif len(SECRET_KEY) < 50 and not DEBUG:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
for origin in CSRF_TRUSTED_ORIGINS:
    if not origin.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"DJANGO_CSRF_TRUSTED_ORIGINS entries need a scheme, got {origin!r}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "registry",
    "studies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A database outage during a view becomes a retry page (a rater's answer carried along), not a 500.
    "config.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    _db = parse_database_url("DATABASE_URL", _database_url).as_django()
    if _db["ENGINE"].endswith("sqlite3") and not Path(_db["NAME"]).is_absolute():
        _db["NAME"] = str(BASE_DIR / _db["NAME"])
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "db.sqlite3")}
if _db["ENGINE"].endswith("sqlite3"):
    # Raters and the in-process tasks write concurrently; wait for the lock instead of failing.
    _db.setdefault("OPTIONS", {}).setdefault("timeout", 20)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "registry:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- static and media ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env_str("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    # Media on S3: MTurk raters fetch clips over HTTPS from the bucket (or its CDN domain) with
    # short-lived signed URLs unless a public custom domain is configured.
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": env_str("AWS_S3_REGION_NAME"),
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL"),
            "custom_domain": env_str("AWS_S3_CUSTOM_DOMAIN"),
            "querystring_auth": env_bool("AWS_QUERYSTRING_AUTH", True),
            "querystring_expire": env_int("AWS_QUERYSTRING_EXPIRE", 6 * 3600, minimum=60),
            "file_overwrite": False,
            "default_acl": None,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": MEDIA_URL},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploaded checkpoints and media can be large; stream them to disk rather than memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
# Largest checkpoint the upload page accepts (a paper-size VarietySound is a few hundred MB); the
# upload is refused, and its partial file removed, as soon as it grows past this.
CHECKPOINT_UPLOAD_MAX_MB = env_int("CHECKPOINT_UPLOAD_MAX_MB", 2048, minimum=1)
# A system's outputs uploaded on a run's page (an archive of one wav per pair), and how far an archive
# may inflate when a worker unpacks it (uploads and import_outputs alike); past either: refused.
OUTPUTS_UPLOAD_MAX_MB = env_int("OUTPUTS_UPLOAD_MAX_MB", 2048, minimum=1)
OUTPUTS_MAX_UNPACKED_MB = env_int("OUTPUTS_MAX_UNPACKED_MB", 8192, minimum=1)
SERVE_MEDIA = env_bool("SERVE_MEDIA", DEBUG)

# --- security -------------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"  # rater pages opt in to MTurk's frame individually
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = (
        ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", True) else None
    )
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
    # The health check is probed over plain HTTP inside the compose network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- cache and rate limits -----------------------------------------------------------------------------
# The rate limits count requests in the cache, so every web process must share it: Redis when CACHE_URL
# is set (docker-compose sets it), otherwise per-process memory (the embedded default: one process).
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL must be a redis:// URL, got {CACHE_URL!r}")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "varietysound"}
}
# Rater endpoints, as "<requests>/<seconds>" (0 = off). Entry (invite links, MTurk's entry page) counts
# per client address: each entry can create a rater and an assignment holding places. Task pages (the
# rating form and its media) count per assignment: a real rater needs a few requests per clip.
RATER_ENTRY_LIMIT = env_rate("RATER_ENTRY_LIMIT", "30/60")
RATER_TASK_LIMIT = env_rate("RATER_TASK_LIMIT", "600/60")
# Reverse proxies in front of the site that append to X-Forwarded-For (0: use the socket's address).
DJANGO_NUM_PROXIES = env_int("DJANGO_NUM_PROXIES", 0, minimum=0, maximum=5)

# --- Celery -----------------------------------------------------------------------------------------
# No broker: tasks run in-process, synchronously (the embedded default). With one, the same tasks go
# to separate workers by queue: gpu (training, generation), cpu (metrics, ffmpeg), default (MTurk,
# bookkeeping). The queue is the first part of every task name, so routing cannot drift from naming.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
TASK_QUEUES = ("gpu", "cpu", "default")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {f"{queue}.*": {"queue": queue} for queue in TASK_QUEUES}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one model-sized job at a time per process
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30 * 60, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 35 * 60, minimum=1)
CELERY_TRAINING_TIME_LIMIT = env_int("CELERY_TRAINING_TIME_LIMIT", 24 * 3600, minimum=60)
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Sending a task while the broker restarts (a worker queuing the next step, the web queuing a study's
# preparation) retries for about a minute instead of failing the step that sends it.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 20,
    "interval_start": 0.5,
    "interval_step": 0.5,
    "interval_max": 5,
}
# With acks_late on Redis, an unacknowledged message is redelivered after the visibility timeout:
# it must outlast the longest task (training) or a running job would start a second time.
# CELERY_VISIBILITY_TIMEOUT overrides it: a shorter one brings back, sooner, the tasks of a worker that
# died outright (SIGKILL, lost machine), at the price of re-running tasks that outlive it.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", CELERY_TRAINING_TIME_LIMIT + 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
_key_prefix = env_str("CELERY_KEY_PREFIX")
if _key_prefix:
    # Lets several deployments (or test runs) share one Redis without taking each other's tasks.
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = f"{_key_prefix}:"
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{_key_prefix}:"}
if CELERY_TRAINING_TIME_LIMIT < CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TRAINING_TIME_LIMIT must be >= CELERY_TASK_TIME_LIMIT")
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be < CELERY_TASK_TIME_LIMIT")

# --- Amazon Mechanical Turk ---------------------------------------------------------------------------
# Sandbox unless MTURK_LIVE is on; the live endpoint also needs a confirmation step per publication.
MTURK_LIVE = env_bool("MTURK_LIVE", False)
MTURK_SANDBOX_ENDPOINT = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
MTURK_LIVE_ENDPOINT = "https://mturk-requester.us-east-1.amazonaws.com"
MTURK_ENDPOINT_URL = env_str("MTURK_ENDPOINT_URL")  # override for an offline fake endpoint in tests
MTURK_REGION = "us-east-1"  # the only region MTurk's requester API runs in
MTURK_EXTERNAL_BASE_URL = env_str("MTURK_EXTERNAL_BASE_URL")  # public https:// origin of rater pages
if MTURK_EXTERNAL_BASE_URL and not MTURK_EXTERNAL_BASE_URL.startswith("https://"):
    raise ImproperlyConfigured("MTURK_EXTERNAL_BASE_URL must start with https:// (MTurk frames HTTPS only)")
MTURK_FRAME_HEIGHT = env_int("MTURK_FRAME_HEIGHT", 0, minimum=0)  # 0 lets MTurk size the frame
MTURK_FEE_PERCENT = env_int("MTURK_FEE_PERCENT", 20, minimum=0, maximum=100)
MTURK_SYNC_SECONDS = env_int("MTURK_SYNC_SECONDS", 300, minimum=30)
# Where MTurk may send workers' browsers back to (turkSubmitTo); anything else is refused as forged.
MTURK_SUBMIT_ORIGINS = env_list(
    "MTURK_SUBMIT_ORIGINS", ["https://www.mturk.com", "https://workersandbox.mturk.com"]
)
# Pages that MTurk shows its workers in a frame may be framed by these origins only.
MTURK_FRAME_ANCESTORS = env_list("MTURK_FRAME_ANCESTORS", ["https://*.mturk.com", "https://mturk.com"])
CELERY_BEAT_SCHEDULE = {
    "mturk-sync": {"task": "default.mturk_sync_all", "schedule": float(MTURK_SYNC_SECONDS)},
}

# --- machine learning -------------------------------------------------------------------------------
INFERENCE_DEVICE = env_str("INFERENCE_DEVICE", "auto")  # auto | cpu | cuda | cuda:N
if INFERENCE_DEVICE != "auto" and not (INFERENCE_DEVICE == "cpu" or INFERENCE_DEVICE.startswith("cuda")):
    raise ImproperlyConfigured(f"INFERENCE_DEVICE must be auto, cpu or cuda[:N], got {INFERENCE_DEVICE!r}")
# The vocoder on CPU workers: auto = OpenVINO where it is installed, else PyTorch (CUDA: PyTorch).
# bf16 (OpenVINO on a CPU with bfloat16) is ~3x faster but not the same output: recorded per sample.
VOCODER_RUNTIME = env_str("VOCODER_RUNTIME", "auto")
if VOCODER_RUNTIME not in ("auto", "torch", "openvino"):
    raise ImproperlyConfigured(f"VOCODER_RUNTIME must be auto, torch or openvino, got {VOCODER_RUNTIME!r}")
VOCODER_PRECISION = env_str("VOCODER_PRECISION", "f32")
if VOCODER_PRECISION not in ("f32", "bf16"):
    raise ImproperlyConfigured(f"VOCODER_PRECISION must be f32 or bf16, got {VOCODER_PRECISION!r}")
# Files a worker derives and may rebuild at any time: the converted vocoder, vocoded ground truth.
INFERENCE_CACHE_DIR = Path(env_str("INFERENCE_CACHE_DIR", str(VAR_DIR / "cache")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
