"""Django settings. Every value comes from the environment (see .env.example)."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local .env is a convenience for developers; real deployments set variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# An empty value (as in a copied .env.example) means "use the default".
for _name in [k for k, v in os.environ.items() if v == "" and k.isupper()]:
    del os.environ[_name]

# Off unless asked for: `make run` and `make test` (devtools/stack.py) turn it on for their own children.
DEBUG = env.bool("DEBUG", default=False)
# The published development key: good for DEBUG only, refused in production.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
else:
    SECRET_KEY = env.str("SECRET_KEY")  # required in production: fails loudly when unset
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured(
            "SECRET_KEY must be a real secret of at least 32 characters when DEBUG is off "
            "(not the published development key)."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
    # Lowest layer first: the conversation core (app label "chat"), the data and analysis above it, the chat's
    # edges on top, and config's wiring of the layers last (docs/architecture.md).
    "conversations",
    "customs",
    "trade",
    "hscode",
    "chat",
    "config.apps.WiringConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.KoreanFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite under var/ is the embedded default; CI and production use PostgreSQL.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
# Persistent connections (checked before reuse): a new PostgreSQL connection per task or request
# costs more than the work itself (docs/benchmarks.md).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and daphne write concurrently; wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            # WAL lets readers work during a write; NORMAL syncs at checkpoints, not at every commit.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not memory, so the live daphne and Celery processes of the tests share it;
    # one per test run, so concurrent runs never flush each other's data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
    # var/ is ignored by git: a fresh clone has no folder for the database files until one is made here.
    for _sqlite_file in (DATABASES["default"]["NAME"], DATABASES["default"]["TEST"]["NAME"]):
        if _sqlite_file and _sqlite_file != ":memory:" and not str(_sqlite_file).startswith("file:"):
            Path(_sqlite_file).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "ko"
LANGUAGES = [("ko", "한국어"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names and compressed copies when collected (production); served by WhiteNoise from daphne.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# In development WhiteNoise serves straight from the app and project static folders.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 24 * 30)
# Anonymous owners are stored as an HMAC of their session key under this key (default: derived from
# SECRET_KEY). Set it on its own to rotate SECRET_KEY without orphaning anonymous people's conversations.
SESSION_KEY_HMAC_KEY = env.str("SESSION_KEY_HMAC_KEY", default="") or f"tradechat.owner-session:{SECRET_KEY}"
CSRF_COOKIE_HTTPONLY = False  # the chat page's script reads it for API calls

# HTTPS is terminated in front of daphne (an upstream balancer or nginx itself, README "Production"): nginx
# passes the balancer's X-Forwarded-Proto through unchanged, or sets its own $scheme when none came, so daphne
# trusts the header only because nothing reaches it except through nginx.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Redis: broker, channel layer and caches share one server by default ---
# devtools.stack exports REDIS_URL when it starts the embedded redis-server.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tradechat",
    }
}

# channels_redis with redis-py 8: the socket read timeout must exceed the layer's
# 5 s blocking read, or idle consumers die with 1011 (docs/pitfalls.md).
CHANNEL_LAYER_CAPACITY = env.int("CHANNEL_LAYER_CAPACITY", default=2000)
CHANNEL_LAYER_MAX_CONNECTIONS = env.int("CHANNEL_LAYER_MAX_CONNECTIONS", default=2000)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    "socket_timeout": env.float("CHANNEL_LAYER_SOCKET_TIMEOUT", default=30.0),
                    "socket_connect_timeout": 5,
                    "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    "health_check_interval": 15,
                }
            ],
            "capacity": CHANNEL_LAYER_CAPACITY,
            "expiry": env.int("CHANNEL_LAYER_EXPIRY", default=60),
            "group_expiry": 86400,
            "prefix": "tradechat-layer",
        },
    }
}

# --- Celery: at-least-once delivery; tasks are idempotent and status-guarded ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=30)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60)
# Redelivery of unacked tasks must come only after the hard limit has passed.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT * 5)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # kombu sweeps for abandoned (unacked) tasks every interval × throttle seconds (100 s by default);
    # a crashed worker's tasks should come back soon after their visibility timeout.
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 4)),
    "unacked_restore_throttle": 1,
}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "chat"
CELERY_TASK_ROUTES = (
    # Work that waits on the network (an LLM stream, a Context7 lookup) goes to "io", served by a threads-pool
    # worker, so it never holds one of the few CPU (prefork) processes for seconds; see config/task_routes.py.
    "config.task_routes.route_network_bound",
    {
        "hscode.tasks.reprocess_*": {"queue": "bulk"},
        "trade.tasks.nitemtrade_fetch": {"queue": "io"},  # waits on data.go.kr
        "chat.tasks.*": {"queue": "chat"},
        "hscode.tasks.*": {"queue": "chat"},
    },
)
CELERY_WORKER_QUEUES = env.list("CELERY_WORKER_QUEUES", default=["chat", "bulk", "io"])
# Threads of the "io" worker that `make run` starts (each waits on one network call at a time).
CELERY_IO_CONCURRENCY = env.int("CELERY_IO_CONCURRENCY", default=16)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=2)

# --- Chat ---
CHAT_MESSAGE_MAX_CHARS = env.int("CHAT_MESSAGE_MAX_CHARS", default=2000)
CHAT_FRAME_MAX_BYTES = env.int("CHAT_FRAME_MAX_BYTES", default=16384)
CHAT_JSON_MAX_DEPTH = env.int("CHAT_JSON_MAX_DEPTH", default=8)
# New messages allowed per window, as "count/seconds"; "0" turns a limit off.
CHAT_RATE_LIMIT_SESSION = env.str("CHAT_RATE_LIMIT_SESSION", default="20/60")
CHAT_RATE_LIMIT_IP = env.str("CHAT_RATE_LIMIT_IP", default="300/60")
# The same for new conversations, for replay requests (resync frames, reconnects with ?after, SSE resumes),
# and for new anonymous sessions (per address). The address is the real client's (deploy/nginx.conf).
CHAT_RATE_LIMIT_CONVERSATION_SESSION = env.str("CHAT_RATE_LIMIT_CONVERSATION_SESSION", default="10/60")
CHAT_RATE_LIMIT_CONVERSATION_IP = env.str("CHAT_RATE_LIMIT_CONVERSATION_IP", default="120/60")
CHAT_RATE_LIMIT_REPLAY_SESSION = env.str("CHAT_RATE_LIMIT_REPLAY_SESSION", default="30/60")
CHAT_RATE_LIMIT_REPLAY_IP = env.str("CHAT_RATE_LIMIT_REPLAY_IP", default="600/60")
CHAT_RATE_LIMIT_NEW_SESSION_IP = env.str("CHAT_RATE_LIMIT_NEW_SESSION_IP", default="120/60")
# 👍/👎 votes on answers (set, changed or withdrawn), over the socket or the API.
CHAT_RATE_LIMIT_FEEDBACK_SESSION = env.str("CHAT_RATE_LIMIT_FEEDBACK_SESSION", default="30/60")
CHAT_RATE_LIMIT_FEEDBACK_IP = env.str("CHAT_RATE_LIMIT_FEEDBACK_IP", default="600/60")
# Open SSE streams at once, per session and per address (0: no limit); a stream whose daphne died stops
# counting after SSE_STREAM_TTL_S without a heartbeat.
SSE_STREAMS_MAX_SESSION = env.int("SSE_STREAMS_MAX_SESSION", default=5)
SSE_STREAMS_MAX_IP = env.int("SSE_STREAMS_MAX_IP", default=100)
SSE_STREAM_TTL_S = env.int("SSE_STREAM_TTL_S", default=120)
# One replay sends at most this many stored events; the client asks for the rest (the `replay_more` frame).
CHAT_REPLAY_MAX_EVENTS = env.int("CHAT_REPLAY_MAX_EVENTS", default=500)
# A WebSocket whose unsent output (the client is not reading) passes this is closed with code 4008.
CHAT_SOCKET_SEND_BUFFER_MAX_BYTES = env.int("CHAT_SOCKET_SEND_BUFFER_MAX_BYTES", default=2 * 1024 * 1024)
# Refused (rate-limited) frames a socket may send before it is closed with 1008 (policy violation).
CHAT_SOCKET_REFUSALS_MAX = env.int("CHAT_SOCKET_REFUSALS_MAX", default=50)
DETAIL_PAGE_BUDGET_MS = env.int("DETAIL_PAGE_BUDGET_MS", default=5000)
# Finished analyses and buttons of a normalised question, and the buttons of an HS code (shared by every question
# resolving to it, hscode/cache.py), are reused for this long (0 turns both off).
DETAIL_CACHE_TTL_S = env.int("DETAIL_CACHE_TTL_S", default=3600)
# Stored events older than this are pruned; replay beyond it starts from the snapshot.
EVENT_LOG_RETENTION_DAYS = env.int("EVENT_LOG_RETENTION_DAYS", default=7)
# A message step that made no progress for this long is enqueued again (its task was lost).
RECOVERY_STALE_AFTER_S = env.int("RECOVERY_STALE_AFTER_S", default=60)
# Times a message step is enqueued (the first time included) before it is given up and the person gets the
# error (conversations/recovery.py).
CHAT_STEP_MAX_ATTEMPTS = env.int("CHAT_STEP_MAX_ATTEMPTS", default=3)
# Heartbeat on SSE streams (WebSockets are pinged by daphne every 20 s).
SSE_HEARTBEAT_S = env.int("SSE_HEARTBEAT_S", default=15)

# --- Context7 (consulted during detail-page preparation when configured) ---
CONTEXT7_API_URL = env.str("CONTEXT7_API_URL", default="https://context7.com/api")
CONTEXT7_API_KEY = env.str("CONTEXT7_API_KEY", default="")
CONTEXT7_LIBRARY_ID = env.str("CONTEXT7_LIBRARY_ID", default="")
CONTEXT7_LIBRARY_NAME = env.str("CONTEXT7_LIBRARY_NAME", default="")
CONTEXT7_BUDGET_S = env.float("CONTEXT7_BUDGET_S", default=2.0)
CONTEXT7_CONNECT_TIMEOUT_S = env.float("CONTEXT7_CONNECT_TIMEOUT_S", default=0.5)
CONTEXT7_READ_TIMEOUT_S = env.float("CONTEXT7_READ_TIMEOUT_S", default=1.5)
CONTEXT7_RETRY_ATTEMPTS = env.int("CONTEXT7_RETRY_ATTEMPTS", default=3)
CONTEXT7_BREAKER_FAIL_MAX = env.int("CONTEXT7_BREAKER_FAIL_MAX", default=5)
CONTEXT7_BREAKER_RESET_S = env.int("CONTEXT7_BREAKER_RESET_S", default=30)
CONTEXT7_CACHE_TTL_S = env.int("CONTEXT7_CACHE_TTL_S", default=3600)

# --- Korea Customs live services (kcs/ clients; README "Korea Customs live services") ---
# One key per service; a service without a key is never called and the pages say it is not connected.
KCS_DATA_GO_KR_URL = env.str("KCS_DATA_GO_KR_URL", default="https://apis.data.go.kr/1220000")
KCS_UNIPASS_URL = env.str("KCS_UNIPASS_URL", default="https://unipass.customs.go.kr:38010")
KCS_CCCT_KEY = env.str("KCS_CCCT_KEY", default="")  # data.go.kr 15101589 세관장확인대상물품
KCS_API029_KEY = env.str("KCS_API029_KEY", default="")  # UNI-PASS API029 (used when KCS_CCCT_KEY is unset)
KCS_NITEMTRADE_KEY = env.str("KCS_NITEMTRADE_KEY", default="")  # data.go.kr 15100475 품목별 국가별 수출입실적
KCS_FX_KEY = env.str("KCS_FX_KEY", default="")  # data.go.kr 15101230 관세환율정보
KCS_API030_KEY = env.str("KCS_API030_KEY", default="")  # UNI-PASS API030 관세율 기본 조회
KCS_BUDGET_S = env.float("KCS_BUDGET_S", default=8.0)
KCS_CONNECT_TIMEOUT_S = env.float("KCS_CONNECT_TIMEOUT_S", default=2.0)
KCS_READ_TIMEOUT_S = env.float("KCS_READ_TIMEOUT_S", default=6.0)
KCS_RETRY_ATTEMPTS = env.int("KCS_RETRY_ATTEMPTS", default=2)
KCS_BREAKER_FAIL_MAX = env.int("KCS_BREAKER_FAIL_MAX", default=5)
KCS_BREAKER_RESET_S = env.int("KCS_BREAKER_RESET_S", default=60)
KCS_CACHE_TTL_S = env.int("KCS_CACHE_TTL_S", default=24 * 3600)
KCS_REDIS_PREFIX = env.str("KCS_REDIS_PREFIX", default="kcs")  # Redis keys of the answer cache, breakers, counters
# Requirements stored in PostgreSQL are fetched again when older than this.
KCS_REQUIREMENTS_MAX_AGE_DAYS = env.int("KCS_REQUIREMENTS_MAX_AGE_DAYS", default=7)
# How long one regulation page may spend fetching requirements it does not hold yet.
KCS_REQUIREMENTS_PAGE_BUDGET_S = env.float("KCS_REQUIREMENTS_PAGE_BUDGET_S", default=6.0)

# --- LLM for the streamed answer ---
LLM_BACKEND = env.str("LLM_BACKEND", default="grounded")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default="")
LLM_MODEL = env.str("LLM_MODEL", default="")
# Longest wait for the first chunk or between chunks before falling back to the grounded answer.
LLM_TIMEOUT_S = env.float("LLM_TIMEOUT_S", default=10.0)
LLM_MAX_S = env.float("LLM_MAX_S", default=120.0)
# Optional re-ranking of the classifier's top candidates by the same endpoint (hscode/rerank.py); off by default.
LLM_RERANK = env.bool("LLM_RERANK", default=False)
LLM_RERANK_TIMEOUT_S = env.float("LLM_RERANK_TIMEOUT_S", default=3.0)

# The most rows one API page may hold (`?limit=`); larger asks are refused with 400.
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=100)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # A JSON API: one body format, documented as such (a form body gets 415).
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "chat.pagination.StrictLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "chat.api.api_exception_handler",
}


LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "bm25s": {"level": "WARNING"},
    },
}

# --- Context7 client extras (docs/context7.md): Redis namespace of the cache, counters and shared breaker ---
CONTEXT7_REDIS_URL = env.str("CONTEXT7_REDIS_URL", default=REDIS_URL)
CONTEXT7_REDIS_PREFIX = env.str("CONTEXT7_REDIS_PREFIX", default="tradechat:context7")
# Retry backoff between attempts (stamina: exponential from WAIT_INITIAL, capped at WAIT_MAX, plus jitter).
CONTEXT7_RETRY_WAIT_INITIAL_S = env.float("CONTEXT7_RETRY_WAIT_INITIAL_S", default=0.1)
CONTEXT7_RETRY_WAIT_MAX_S = env.float("CONTEXT7_RETRY_WAIT_MAX_S", default=0.5)
CONTEXT7_RETRY_JITTER_S = env.float("CONTEXT7_RETRY_JITTER_S", default=0.1)
# Switches, and the TTL of "nothing found" answers (shorter than CONTEXT7_CACHE_TTL_S).
CONTEXT7_BREAKER_ENABLED = env.bool("CONTEXT7_BREAKER_ENABLED", default=True)
CONTEXT7_CACHE_ENABLED = env.bool("CONTEXT7_CACHE_ENABLED", default=True)
CONTEXT7_CACHE_EMPTY_TTL_S = env.int("CONTEXT7_CACHE_EMPTY_TTL_S", default=300)

# --- Operator tools (issue 7): API schema and filters, health and metrics, reprocessing ---
INSTALLED_APPS += ["django_filters", "drf_spectacular", "drf_spectacular_sidecar", "ops"]
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "chat.openapi.ErrorDocumentingAutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "Trade-information chat API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Conversations, messages with their HS code analyses, and staff reviews.\n\n"
        "**Authentication**: the Django session cookie; every request, anonymous ones included, sends the "
        "`csrftoken` cookie's value in `X-CSRFToken` for unsafe methods. Anonymous people own conversations "
        "through their session.\n\n"
        "**Permissions**: owners see their own conversations and messages; staff see everything and may review "
        "and reprocess; anybody else gets 404 for a conversation or message that is not theirs.\n\n"
        "**Live events** are not served by this API but by Channels: the WebSocket `/ws/chat/{conversation_id}/` "
        "and the Server-Sent Events stream `GET /api/conversations/{conversation_id}/events` "
        "(`text/event-stream`; each event's `id:` is its per-conversation `seq`, `event:` its name, `data:` the "
        "frame `{event, data, message_id, seq}`; resume with the `Last-Event-ID` header or `?after=<seq>`; "
        "heartbeat comments every SSE_HEARTBEAT_S seconds). Event names and data shapes: README, "
        "`conversations/contracts.py`."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc from the drf-spectacular-sidecar wheel (static files; no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "chat.openapi.schema_add_event_stream",
    ],
}
# A person's message still pending/analysing and updated within this window is in flight: not reprocessed.
REPROCESS_STALE_AFTER_S = env.int("REPROCESS_STALE_AFTER_S", default=60)
# /healthz: longest wait for a Celery worker's ping reply, and for each check as a whole.
HEALTHZ_CELERY_TIMEOUT_S = env.float("HEALTHZ_CELERY_TIMEOUT_S", default=1.0)
HEALTHZ_TIMEOUT_S = env.float("HEALTHZ_TIMEOUT_S", default=3.0)
# /metrics: when set, scrapes must send "Authorization: Bearer <token>".
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Probes inside the network speak plain HTTP: no HTTPS redirect for them (ALLOWED_HOSTS still applies).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Key rotation: the previous SECRET_KEY(s) still validate sessions and signatures (docs/operations.md).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# --- Korea Customs Service data (customs/, kcs/; README "Korea Customs data") ---
# The HSK code table `manage.py load_shipped_data` loads on first start (출처: 관세청, 공공누리 제1유형)
KCS_HSK_FILE = env.path("KCS_HSK_FILE", default=BASE_DIR / "data" / "kcs" / "hsk_2025_kcs.csv")
# Where the HS page sends a person to check rates when no 관세율표 file is loaded; "{code}" becomes the HSK code
KCS_TARIFF_LOOKUP_URL = env.str("KCS_TARIFF_LOOKUP_URL", default="https://unipass.customs.go.kr/clip/index.do")
