"""One settings module for every mode, driven by environment variables.

Embedded default (nothing set): SQLite under var/, in-memory channel layer, Celery tasks run
in the calling process. Production: DATABASE_URL (PostgreSQL) and REDIS_URL (channels and the
Celery broker), DEBUG=0 with a real SECRET_KEY and ALLOWED_HOSTS.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", True)

# A placeholder for laptops (bandit B105): refused below whenever DEBUG=0.
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # nosec B105
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else [])

if not DEBUG:
    # Production refuses to start on defaults that would be unsafe on the internet.
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("DEBUG=0 needs SECRET_KEY set to a random string of 50+ characters")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG=0 needs ALLOWED_HOSTS (comma-separated host names)")

CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "dispatch",
    "routes",
    "customers",
    "analytics",
]

MIDDLEWARE = [
    # First and last: request counts and latencies per view for /metrics (config/metrics.py).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The request id (X-Request-ID, made when absent) on every log line and enqueued task.
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Security headers go on every response, static files from WhiteNoise included: both stay
    # above it (config/security_headers.py: Content-Security-Policy with a per-request nonce).
    "config.security_headers.SecurityHeadersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Pages carry their maps inline; compress them. (BREACH: Django masks the CSRF token per response.)
    # Django's, with async streamed downloads as one gzip stream (config/compression.py: browsers read one member).
    "config.compression.GZipMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language: the cookie set by the switcher, else Accept-Language (dispatch/language.py).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ...and over it, the logged-in user's own choice (UserPreference).
    "dispatch.language.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, so it sees the view's exceptions first: a database outage answers 503 + Retry-After, not 500.
    "config.db_outage.DatabaseOutageMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
# A server process does its once-per-process work (imports, templates, the maps' first drawing) in a
# background thread as it starts, so that the first requests are as quick as the next (config/warm_up.py).
WARM_UP = env_bool("WARM_UP", True)
WSGI_APPLICATION = None

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
                "config.security_headers.csp_nonce",
                "dispatch.live.context_processors.open_alerts",  # the nav's count of open alerts (lazy)
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env_bool("DB_POOL", True) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Under ASGI every request runs its sync code on a thread of its own, and a persistent
        # connection belongs to a thread: without a pool each request opened a new connection and
        # a busy server ran PostgreSQL out of them. The pool (one per process) hands connections
        # back at the end of each request; CONN_HEALTH_CHECKS makes it check each one on checkout,
        # so a restarted server costs a reconnect, not an error.
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them (Django refuses both at once)
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", 1),
            "max_size": env_int("DB_POOL_MAX_SIZE", 8),
            "timeout": env_int("DB_POOL_TIMEOUT_S", 10),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "dispatch.sqlite3",
            # A busy web process and the in-process task runner share the file: wait, don't fail.
            # WAL: readers (pages, the live map, tasks) never block the writer nor it them, and a
            # commit appends to the log instead of syncing a rollback journal (synchronous=NORMAL
            # is WAL's safe setting: a power cut may lose the last commits, never corrupt the file).
            # read_uncommitted acts only on a shared-cache database, i.e. the tests' in-memory one:
            # there a background thread's read (the trailing position broadcast) would lock whole
            # tables and the main thread's write fail at once with "database table is locked", where
            # the WAL file the embedded mode runs on lets readers and the writer pass each other.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA read_uncommitted=1;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache ----------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS_URL],
                # Explicit so a slow dashboard cannot grow Redis without bound.
                "capacity": env_int("CHANNEL_CAPACITY", 500),
                "expiry": env_int("CHANNEL_EXPIRY_S", 30),
                "group_expiry": 86400,
                "prefix": env_str("CHANNEL_PREFIX", "asgi"),
            },
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

from kombu import Exchange, Queue  # noqa: E402 - only the Celery section needs it

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run where they are enqueued (always after the transaction commits).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Embedded mode only: run tasks synchronously instead of on a background thread (tests).
TASKS_RUN_INLINE = env_bool("TASKS_RUN_INLINE", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task a dead worker never acknowledged comes back after this long (acks_late); keep it above the
# longest task. Tests that kill workers lower it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3600)}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
# Background work by kind, each kind on a queue of its own (config/tasks.py routes by TASK_KINDS), so
# that a flood of one kind never holds up another: planning, re-planning and closures ("plans") never
# wait behind live-ETA refreshes ("live") or customer messages ("notifications"). A worker started
# without -Q consumes all of them; docs/deployment.md gives the layout with a worker for plans alone.
# An empty name sends that kind to the default queue.
CELERY_WORK_QUEUES = {
    "plans": env_str("CELERY_PLANS_QUEUE", "plans"),
    "live": env_str("CELERY_LIVE_QUEUE", "live"),
    "notifications": env_str("CELERY_NOTIFICATION_QUEUE", "notifications"),
    "default": CELERY_TASK_DEFAULT_QUEUE,
}
# Task name -> kind; a task not listed is "default" (analytics, retention).
TASK_KINDS = {
    "routes.tasks.optimize_plan": "plans",
    "routes.tasks.replan_plan": "plans",
    # A big day in parts (routes.plans.splitting): its regions, their merge, the deadline's check.
    "routes.tasks.solve_plan_part": "plans",
    "routes.tasks.merge_plan_parts": "plans",
    "routes.tasks.check_plan_parts": "plans",
    "routes.tasks.closure_changed": "plans",
    "routes.tasks.expire_replan_proposal": "plans",  # a re-plan proposal's deadline (applies or keeps)
    "routes.tasks.expire_replan_proposals": "plans",
    "routes.live_eta.refresh_live_etas": "live",
    "dispatch.tasks.drivers_moved_followups": "live",
    "dispatch.alerts.check_idle_drivers": "live",
    "customers.tasks.notify_eta": "live",  # decides whether an ETA change is worth a message
    "customers.tasks.notify_plan": "notifications",
    "customers.tasks.notify_status": "notifications",
    "customers.tasks.notify_handoff": "notifications",
    "customers.tasks.send_notification": "notifications",
    "customers.tasks.send_delay_message": "notifications",  # a "delayed" message held for its interval
    "customers.tasks.send_due_delay_messages": "notifications",
    # Courier partners: the signed webhook of a hand-off, and its cut-off (quick; never dropped, unlike "live").
    "dispatch.partners.tasks.send_handoff_webhook": "notifications",
    "dispatch.partners.tasks.send_withdrawal_webhook": "notifications",
    "dispatch.partners.tasks.expire_handoff": "notifications",
    "dispatch.partners.tasks.expire_due_handoffs": "notifications",
}
# Beat and any direct .delay() follow the same map (enqueue() names the queue itself).
CELERY_TASK_ROUTES = ("config.tasks.route_task",)
# config.tasks holds run_latest (the coalesced jobs) and stamps every message with its enqueue time:
# every worker and beat load it.
CELERY_IMPORTS = ("config.tasks",)
# Declared as Celery declares a queue it creates by itself (exchange and routing key named after it).
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name) for name in dict.fromkeys(n for n in CELERY_WORK_QUEUES.values() if n)
]
# "live" work only ever matters in its latest form (an ETA, a position's follow-ups): past this many
# waiting, the oldest are dropped (logged and counted on /healthz?detail=1) rather than delaying the
# newest. Tasks marked latest_only are also coalesced per first argument (one waiting per order or
# driver, run with the latest arguments); a mark older than TASK_COALESCE_S no longer holds new ones back.
TASK_LIVE_BACKLOG_MAX = env_int("TASK_LIVE_BACKLOG_MAX", 1000)
TASK_COALESCE_S = env_int("TASK_COALESCE_S", 600)
# /healthz?detail=1 (queue ages) for staff users, or for monitoring with "Authorization: Bearer <this>".
HEALTHZ_TOKEN = env_str("HEALTHZ_TOKEN", "")
# GET /metrics (Prometheus) for staff users, or for the scraper with "Authorization: Bearer <this>".
# Several processes per machine: set PROMETHEUS_MULTIPROC_DIR too (docs/deployment.md, Metrics).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if env_str("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus_client writes there from the first metric on (django-prometheus' middleware loads early).
    Path(env_str("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

# --- Auth ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

# --- Locale ----------------------------------------------------------------------------------
# The dashboard's language when neither the user's setting nor the browser names en or de, and the
# language alerts are written in when they are made (dispatch/alerts.py): "de" for a German-speaking company.
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Vaduz")
USE_I18N = True
# German and English: locale/<lang>/LC_MESSAGES/django.po and djangojs.po (`make messages`).
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates in each language's own form (config/formats/<lang>/formats.py): templates use the named formats.
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
USE_TZ = True

# --- Static files: everything served locally, never from a CDN --------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "config.static_storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API --------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",
    "EXCEPTION_HANDLER": "config.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Last-mile dispatch API",
    "DESCRIPTION": "Orders, fleet, routing, plans, live operations and customer tracking. See API.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {"PlanObjectiveEnum": "routes.models.Plan.Objective"},
}

# --- Security --------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Domain settings -------------------------------------------------------------------------
DEFAULT_SERVICE_MINUTES = env_int("DEFAULT_SERVICE_MINUTES", 5)
DEFAULT_CUSTOMER_LANGUAGE = env_str("DEFAULT_CUSTOMER_LANGUAGE", "de")
# Skills an order may ask for even before a vehicle offers them (vehicles' skills count too).
ORDER_SKILLS = env_list("ORDER_SKILLS", ["fridge", "frozen", "two_person", "heavy", "fragile", "id_check", "tail_lift"])
ORDER_IMPORT_MAX_BYTES = env_int("ORDER_IMPORT_MAX_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ORDER_IMPORT_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
ROAD_NETWORK_DIR = Path(env_str("ROAD_NETWORK_DIR", str(VAR_DIR / "network")))
DEMO_PBF = BASE_DIR / "data" / "liechtenstein.osm.pbf"
# Stops further than this from any road are flagged instead of silently routed (metres).
SNAP_LIMIT_M = env_int("SNAP_LIMIT_M", 250)
# The base map: vector tiles built on this machine from the region's extract (`manage.py
# build_map_tiles`, tilemaker) and served by the app at /map/tiles/ (docs/deployment.md, "Base map").
# MAP_TILE_URL names a raster tile server of the company's own instead; with neither, the maps draw
# the main roads of the loaded network.
MAP_TILE_URL = env_str("MAP_TILE_URL", "")
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "")
MAP_TILES_DIR = Path(env_str("MAP_TILES_DIR", str(VAR_DIR / "tiles")))
# How long browsers and proxies may keep a tile or glyph range (seconds); a rebuild changes the ETag.
MAP_TILE_MAX_AGE = env_int("MAP_TILE_MAX_AGE", 24 * 3600)
MAP_FONTS_DIR = BASE_DIR / "static" / "vendor" / "map-fonts"
GEOCODER = env_str("GEOCODER", "local")  # "local" (the extract's addresses) or "nominatim"
NOMINATIM_DOMAIN = env_str("NOMINATIM_DOMAIN", "")
NOMINATIM_USER_AGENT = env_str("NOMINATIM_USER_AGENT", "last-mile-dispatch")
MATRIX_MAX_POINTS = env_int("MATRIX_MAX_POINTS", 2500)
# Driver breaks by shift length (German Arbeitszeitgesetz: 30 min after 6 h, 45 min after 9 h),
# to be started between window_from_h and window_to_h hours after local midnight.
PLAN_BREAK_RULES = [
    {"min_shift_h": 6, "minutes": 30, "window_from_h": 11, "window_to_h": 14},
    {"min_shift_h": 9, "minutes": 45, "window_from_h": 11, "window_to_h": 14},
]
# Seconds of optimization for a day (None: by size, see routes.optimizer.default_time_budget).
PLAN_TIME_BUDGET_S = env_int("PLAN_TIME_BUDGET_S", 0) or None
# Big days in parts (routes.plans.splitting, benchmarks/OPTIMIZER.md): a plan of at least
# PLAN_SPLIT_MIN_ORDERS orders is cut into regions of about PLAN_SPLIT_REGION_ORDERS, solved as tasks of
# their own on the plans queue (PLAN_SPLIT_WORKERS at a time: the worker processes consuming it), then
# merged and mended across the borders, all within PLAN_SPLIT_TIME_BUDGET_S (a quarter for the borders).
# A plan whose parts are not all back PLAN_SPLIT_DEADLINE_S after it started fails, saying which
# (0: twice the budget plus ten minutes for the matrices and the saving).
PLAN_SPLIT_MIN_ORDERS = env_int("PLAN_SPLIT_MIN_ORDERS", 800)
PLAN_SPLIT_REGION_ORDERS = env_int("PLAN_SPLIT_REGION_ORDERS", 350)
PLAN_SPLIT_TIME_BUDGET_S = env_int("PLAN_SPLIT_TIME_BUDGET_S", 480)
PLAN_SPLIT_WORKERS = env_int("PLAN_SPLIT_WORKERS", 2)
PLAN_SPLIT_BORDER_SHARE = 0.25
PLAN_SPLIT_DEADLINE_S = env_int("PLAN_SPLIT_DEADLINE_S", 0)
# A plan for today starts from when it is computed: a vehicle at the depot leaves no earlier than
# this many minutes later (dispatching, loading, the driver walking to the van); one already out
# leaves from where it is, now. Plans for later days start at the shifts' start as always.
PLAN_PREPARATION_MINUTES = env_int("PLAN_PREPARATION_MINUTES", 30)
# Re-plans of one depot and day run one at a time; a crashed holder frees the lock after this long.
REPLAN_LOCK_HOLD_S = env_int("REPLAN_LOCK_HOLD_S", 120)
# Guard rails on re-plans the system makes by itself (closures; routes.plans.proposals). One
# applies by itself only when it drops no stop, moves none to another vehicle and shifts no ETA by
# more than REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN; otherwise it is a proposal the dispatcher approves
# or rejects. A proposal not decided within REPLAN_PROPOSAL_TIMEOUT_MIN expires: the running
# version stays (drivers and customers see no change) and the alert says so.
REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN = env_int("REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN", 15)
REPLAN_PROPOSAL_TIMEOUT_MIN = env_int("REPLAN_PROPOSAL_TIMEOUT_MIN", 10)
# A stop its own vehicle can no longer fit (shift over) may go to another vehicle that can: always
# a proposal. 0: such stops stay with their vehicle, flagged as overtime.
REPLAN_RESCUE_BY_MOVES = env_bool("REPLAN_RESCUE_BY_MOVES", True)

# --- Logs and error reports (config/structured_logs.py) ---------------------------------------
# LOG_FORMAT: "json" (one object per line, for a log shipper; the default when DEBUG=0) or "text".
# Every line carries the request id (X-Request-ID), which follows a request into its tasks.
from config.structured_logs import logging_config, sentry_init  # noqa: E402 - this section's own

LOG_FORMAT = env_str("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))
# Celery workers log through the same configuration, not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Error reports to Sentry only when SENTRY_DSN is set (no personal data: see sentry_init).
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    sentry_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", ""),
        release=env_str("SENTRY_RELEASE", ""),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )

# --- Customer communication ------------------------------------------------------------------
# E-mail: SMTP when EMAIL_HOST is set; otherwise messages are written to files under var/mail
# (every message is also kept in the outbox: customers.Notification, in the admin and the API).
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Dispatch <no-reply@localhost>")
# SMS: "customers.notifications.backends.OutboxSmsBackend" (keeps it in the outbox only) or "customers.notifications.backends.TwilioSmsBackend".
SMS_BACKEND = env_str("SMS_BACKEND", "customers.notifications.backends.OutboxSmsBackend")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_API_URL = env_str("TWILIO_API_URL", "https://api.twilio.com")
# Webhook: every notification is also POSTed (HMAC-SHA256 signed) here when set.
NOTIFICATION_WEBHOOK_URL = env_str("NOTIFICATION_WEBHOOK_URL", "")
NOTIFICATION_WEBHOOK_SECRET = env_str("NOTIFICATION_WEBHOOK_SECRET", "")
NOTIFICATION_SEND_TIMEOUT_S = env_int("NOTIFICATION_SEND_TIMEOUT_S", 10)
# A message still "sending" after this long was interrupted (worker killed mid-send): it is marked
# failed, never re-sent (it may have gone out). Keep it well above NOTIFICATION_SEND_TIMEOUT_S.
NOTIFICATION_STALE_SENDING_S = env_int("NOTIFICATION_STALE_SENDING_S", 600)
# Seconds before each retry of a transient failure; after the last one the message is marked failed.
NOTIFICATION_RETRY_DELAYS_S = [int(s) for s in env_list("NOTIFICATION_RETRY_DELAYS_S", ["30", "120", "600", "1800"])]
# The window we promise is the planned ETA ± this; "delayed" is sent when the ETA leaves it by more than the threshold.
ETA_WINDOW_HALF_WIDTH_MIN = env_int("ETA_WINDOW_HALF_WIDTH_MIN", 30)
# With a learned travel model the window is the p10-p90 of its arrival errors for the ETA's horizon
# (routes.learning), kept between these widths.
ETA_WINDOW_MIN_WIDTH_MIN = env_int("ETA_WINDOW_MIN_WIDTH_MIN", 20)
ETA_WINDOW_MAX_WIDTH_MIN = env_int("ETA_WINDOW_MAX_WIDTH_MIN", 60)
ETA_DELAY_THRESHOLD_MIN = env_int("ETA_DELAY_THRESHOLD_MIN", 10)
ARRIVING_SOON_MIN = env_int("ARRIVING_SOON_MIN", 15)
# "Delayed" messages to one order are at least this many minutes (real time) apart: a later delay
# within it moves the promise (the tracking page shows it at once) and is told when it ends, unless
# the window moved by more than its width again (told at once). 0 tells every revision at once.
CUSTOMER_DELAY_MESSAGE_MIN_INTERVAL_MIN = env_int("CUSTOMER_DELAY_MESSAGE_MIN_INTERVAL_MIN", 15)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
# A delay told at the end of its interval has a timer; this sweep covers timers lost in a restart.
CELERY_BEAT_SCHEDULE["customers-delay-messages-due"] = {
    "task": "customers.tasks.send_due_delay_messages",
    "schedule": 60.0,
}


def _served_base_url() -> str:
    """Where `make run` serves (its HOST and PORT), for links when PUBLIC_BASE_URL is not set.

    A wildcard address (0.0.0.0, ::) is where the server listens, not where a phone can go: the
    machine's name is the better guess there; a deployment sets PUBLIC_BASE_URL anyway.
    """
    import socket

    host = env_str("HOST", "").strip() or "127.0.0.1"
    port = env_str("PORT", "").strip() or "8000"
    if host in ("0.0.0.0", "::", "[::]"):  # nosec B104 - compared, not bound
        host = socket.gethostname()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


# Absolute links in messages: the public address of the tracking pages.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "").strip() or _served_base_url()
TRACKING_LINK_TTL_DAYS = env_int("TRACKING_LINK_TTL_DAYS", 14)
# Requests per minute to the tracking page and API, per client IP and per token (429 beyond).
TRACKING_RATE_PER_IP = env_int("TRACKING_RATE_PER_IP", 120)
TRACKING_RATE_PER_TOKEN = env_int("TRACKING_RATE_PER_TOKEN", 60)
TRACKING_MESSAGES_PER_HOUR = env_int("TRACKING_MESSAGES_PER_HOUR", 10)
# The driver's position is shown only while fresher than this (seconds).
TRACKING_POSITION_MAX_AGE_S = env_int("TRACKING_POSITION_MAX_AGE_S", 900)

# --- Live operations: driver positions -------------------------------------------------------
from celery.schedules import crontab  # noqa: E402 - only the beat schedule needs it

# Driver positions are kept this many days (manage.py prune_positions; Celery beat, daily).
POSITION_RETENTION_DAYS = env_int("POSITION_RETENTION_DAYS", 30)
# Customers' personal data of orders completed more than this many days ago (by delivery day) is
# anonymized nightly (customers.personal_data.services; the KPIs stay). Driver positions keep their own.
PERSONAL_DATA_RETENTION_DAYS = env_int("PERSONAL_DATA_RETENTION_DAYS", 180)
# A stop action replayed from the phone's offline queue keeps the time the driver tapped it
# (`occurred_at`), if it is no older than this many hours; older ones are refused (400).
DRIVER_ACTION_MAX_AGE_H = env_int("DRIVER_ACTION_MAX_AGE_H", 24)
# The lean intake of POST /api/driver/positions/ (dispatch.live.position_intake): on with PostgreSQL and
# Redis, and in the embedded mode (SQLite: one writer thread of its own, DATABASES' busy timeout);
# 0 sends every position through the Django view. On PostgreSQL its own pool per ASGI process, this large.
POSITION_INTAKE = env_bool("POSITION_INTAKE", True)
POSITION_INTAKE_POOL_SIZE = env_int("POSITION_INTAKE_POOL_SIZE", 4)
# Positions from the intake reach dashboards batched per depot every this many seconds (latency vs
# messages: 0.1 s adds at most 100 ms); the other listeners (ETAs, alerts) see a driver this often.
LIVE_POSITION_FLUSH_S = env_float("LIVE_POSITION_FLUSH_S", 0.1)
LIVE_FOLLOWUP_EVERY_S = env_float("LIVE_FOLLOWUP_EVERY_S", 5.0)
CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})  # other sections add their entries too
# Nightly, between two days' work.
CELERY_BEAT_SCHEDULE["prune-driver-positions"] = {
    "task": "dispatch.tasks.prune_driver_positions",
    "schedule": crontab(hour=3, minute=30),
}

# Nightly, after the positions: the personal data of orders completed before PERSONAL_DATA_RETENTION_DAYS.
CELERY_BEAT_SCHEDULE["personal-data-retention"] = {
    "task": "customers.tasks.personal_data_expire",
    "schedule": crontab(hour=3, minute=45),
}

# Alerts for drivers who stopped moving while their route has open stops.
CELERY_BEAT_SCHEDULE["idle-drivers-every-minute"] = {"task": "dispatch.alerts.check_idle_drivers", "schedule": 60.0}
# Re-plan proposals past REPLAN_PROPOSAL_TIMEOUT_MIN whose own timer was lost expire here.
CELERY_BEAT_SCHEDULE["replan-proposals-expire"] = {"task": "routes.tasks.expire_replan_proposals", "schedule": 60.0}
# Hand-offs to courier partners not accepted by their cut-off whose own timer was lost go back to planning.
CELERY_BEAT_SCHEDULE["partner-handoffs-expire"] = {
    "task": "dispatch.partners.tasks.expire_due_handoffs",
    "schedule": 60.0,
}

# --- Learned travel times (routes.learning) ---
# The nightly travel model learns from this many past days of positions and stop actions (no more than
# POSITION_RETENTION_DAYS: older positions are gone), and runs before the positions are pruned.
LEARNING_WINDOW_DAYS = env_int("LEARNING_WINDOW_DAYS", 28)
CELERY_BEAT_SCHEDULE["learn-travel-model"] = {
    "task": "routes.tasks.learn_travel_model",
    "schedule": crontab(hour=env_int("LEARNING_NIGHTLY_HOUR", 2), minute=30),
}

# --- Analytics ---
# The currency of every cost the dashboards show (vehicles' fixed, per-km and per-hour costs are entered
# in it): an ISO 4217 code, CHF for the Liechtenstein demo. Figures are not converted, only labelled.
CURRENCY = env_str("CURRENCY", "CHF").strip().upper()
if not (len(CURRENCY) == 3 and CURRENCY.isascii() and CURRENCY.isalpha()):
    raise ImproperlyConfigured(f"CURRENCY={CURRENCY!r} is not an ISO 4217 currency code (three letters, e.g. CHF, EUR)")
# The daily KPI e-mail to managers (yesterday's figures) and the nightly rebuild of recent facts.
# Times are TIME_ZONE local (Celery follows Django's TIME_ZONE); run `celery -A config beat` to use them.
from celery.schedules import crontab  # noqa: E402 - kept inside this block so the section stays self-contained

CELERY_BEAT_SCHEDULE = globals().get("CELERY_BEAT_SCHEDULE", {})
CELERY_BEAT_SCHEDULE["analytics-facts-refresh-recent"] = {
    "task": "analytics.tasks.order_facts_refresh_recent",
    "schedule": crontab(hour=2, minute=30),
}
CELERY_BEAT_SCHEDULE["analytics-daily-summary"] = {
    "task": "analytics.tasks.daily_summary",
    "schedule": crontab(hour=6, minute=0),
}
