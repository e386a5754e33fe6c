from pathlib import Path

import environ

from govhub import embedded

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env(
    GOVHUB_ENV=(str, "development"),
    DEBUG=(bool, False),
    SECRET_KEY=(str, "insecure-dev-key-change-me"),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "testserver"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    GOVHUB_LEDGER_ORIGIN=(str, "govhub.local/ledger"),
    LOG_LEVEL=(str, "INFO"),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

GOVHUB_ENV: str = env("GOVHUB_ENV")
if GOVHUB_ENV not in {"development", "test", "production"}:
    raise environ.ImproperlyConfigured(
        f"GOVHUB_ENV must be development, test or production, not {GOVHUB_ENV!r}"
    )
DEFAULT_SECRET_KEY = "insecure-dev-key-change-me"
SECRET_KEY: str = env("SECRET_KEY")
DEBUG: bool = env("DEBUG") if "DEBUG" in env.ENVIRON else GOVHUB_ENV == "development"
ALLOWED_HOSTS: list[str] = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS: list[str] = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.catalog",
    "apps.compute",
    "apps.jobs",
    "apps.evidence",
    "apps.lineage",
    "apps.policy",
    "apps.dispatch",
    "apps.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "govhub.urls"
WSGI_APPLICATION = "govhub.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

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
                "apps.web.context_processors.govhub",
            ],
        },
    },
]

# One database engine everywhere: PostgreSQL. Without DATABASE_URL, the embedded server
# that `make run` / `make test` start under var/ (see govhub/embedded.py).
DATABASES = {"default": env.db_url("DATABASE_URL", default=embedded.postgres_url())}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
# No per-request "SELECT 1": gunicorn recycles workers and a dead connection fails one request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=False)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL: str = env("REDIS_URL", default=embedded.redis_url())
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "govhub",
    }
}

CELERY_BROKER_URL = embedded.celery_broker_url(REDIS_URL)  # kombu spells unix sockets redis+socket://
CELERY_RESULT_BACKEND = None  # job state lives in PostgreSQL, not in a result backend
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE: str = env("GOVHUB_CELERY_QUEUE", default="govhub")
CELERY_BEAT_SCHEDULE: dict = {
    "expire-consents": {"task": "catalog.expire_consents", "schedule": 300.0},
    # Evidence ledger: sequence new audit events into the Merkle tree and sign a checkpoint. Every
    # 0.5 s keeps insert -> signed checkpoint under 2 s at p95 (measured ~0.6 s); a tick with nothing
    # new is a few small indexed queries. Stale ticks expire rather than pile up behind a busy worker.
    "ledger-sequence": {"task": "audit.sequence", "schedule": 0.5, "options": {"expires": 5}},
    # Recompute the whole tree from the events and cache the result for the evidence page.
    "ledger-verify": {"task": "audit.verify_ledger", "schedule": 3600.0, "options": {"expires": 600}},
    # Exports: fail builds whose worker died, requeue lost messages, expire bundles past retention.
    "evidence-housekeeping": {"task": "evidence.housekeeping", "schedule": 60.0, "options": {"expires": 60}},
    # Lineage: a daily full recomputation of inherited constraints, the safety net behind the hooks.
    "lineage-recompute-all": {"task": "lineage.recompute_all", "schedule": 86400.0, "options": {"expires": 3600}},
    # Policy: hand back jobs whose admission worker died; re-judge live jobs whose inputs' effective
    # constraints changed (residency, lineage, consent).
    "policy-reap-stuck-jobs": {"task": "policy.reap_stuck_jobs", "schedule": 30.0, "options": {"expires": 30}},
    "policy-watch-constraints": {"task": "policy.watch_constraints", "schedule": 10.0, "options": {"expires": 10}},
}
# Dispatch (docs/dispatch.md): the monitor follows jobs on clusters, accrues usage and applies the
# runtime guardrails (budget, time limit) every second — one status call per cluster per tick; the
# reconcile beat finishes dispatches a dead worker left behind (asking the scheduler by tag first).
GOVHUB_DISPATCH_MONITOR_INTERVAL: float = env.float("GOVHUB_DISPATCH_MONITOR_INTERVAL", default=1.0)
GOVHUB_DISPATCH_RECONCILE_GRACE: float = env.float("GOVHUB_DISPATCH_RECONCILE_GRACE", default=30.0)
CELERY_BEAT_SCHEDULE.update({
    "dispatch-monitor": {"task": "dispatch.monitor", "schedule": GOVHUB_DISPATCH_MONITOR_INTERVAL, "options": {"expires": 5}},
    "dispatch-reconcile": {"task": "dispatch.reconcile", "schedule": 5.0, "options": {"expires": 10}},
})
CELERY_TASK_ALWAYS_EAGER = False
# Policy caches (docs/adr/0022-policy-caches-and-decide.md): how long a process reuses the cache
# generation tokens it read from Redis (0 in tests, where every test starts from a clean slate).
GOVHUB_POLICY_TOKEN_TTL: float = env.float("GOVHUB_POLICY_TOKEN_TTL", default=0.0 if GOVHUB_ENV == "test" else 0.1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Outside production, whitenoise serves straight from static/ (no collectstatic step needed).
WHITENOISE_USE_FINDERS = GOVHUB_ENV != "production"
WHITENOISE_AUTOREFRESH = GOVHUB_ENV == "development"
MEDIA_ROOT = BASE_DIR / "var" / "media"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.permissions.RolePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "govhub API",
    "DESCRIPTION": "Governance and lineage hub for sovereign AI: catalog, lineage, policy, dispatch, evidence.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "AssetKindEnum": "apps.catalog.models.assets.AssetKind",
        "UserKindEnum": "apps.accounts.models.UserKind",
        "RoleEnum": "apps.core.roles.Role",
        "JurisdictionKindEnum": "apps.catalog.models.jurisdictions.JurisdictionKind",
        "SchedulerKindEnum": "apps.compute.models.SchedulerKind",
        "JobKindEnum": "apps.jobs.models.JobKind",
        "JobStateEnum": "apps.jobs.models.JobState",
        "PolicyTemplateEnum": "apps.policy.models.Template",
        "PolicyActionEnum": "apps.policy.models.Action",
        "PolicyVersionStateEnum": "apps.policy.models.VersionState",
        "WaiverStateEnum": "apps.policy.models.WaiverState",
        "EvaluationStatusEnum": "apps.policy.models.EvaluationStatus",
        "DecisionOutcomeEnum": "apps.policy.models.Outcome",
        "DecisionModeEnum": "apps.policy.models.DecisionMode",
        # Named so that the "kind"/"state" fields of jobs, policies and lineage do not collide.
        "LineageEventKindEnum": "apps.lineage.models.EventKind",
        "LineageRunStateEnum": "apps.lineage.models.RunState",
        "ExportStateEnum": "apps.evidence.models.ExportState",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL")},
}

GOVHUB_LEDGER_ORIGIN: str = env("GOVHUB_LEDGER_ORIGIN")

# Evidence ledger and regulator exports (docs/evidence.md). The ledger's private signing key never
# enters the database or these settings: GOVHUB_LEDGER_KEY_FILE names a PEM / base64-seed file, or
# GOVHUB_LEDGER_KEY holds the key itself (read by apps/audit/keys.py). Outside production, with
# neither set, a key is generated under var/keys/ (mode 600) and the log says so.
GOVHUB_LEDGER_KEY_FILE: str = env("GOVHUB_LEDGER_KEY_FILE", default="")
GOVHUB_LEDGER_DEV_KEY_DIR = BASE_DIR / "var" / "keys"
GOVHUB_CHECKPOINT_DIR = Path(env("GOVHUB_CHECKPOINT_DIR", default=str(BASE_DIR / "var" / "checkpoints")))
GOVHUB_EXPORT_DIR = Path(env("GOVHUB_EXPORT_DIR", default=str(BASE_DIR / "var" / "exports")))
# A build that shows no progress for this long is failed (its worker died); a request still queued
# after it is queued again. Bundles are deleted this many days after they were built (0: kept);
# their digests stay in the ledger, and the same scope can be exported again.
GOVHUB_EXPORT_STALE_SECONDS: int = env.int("GOVHUB_EXPORT_STALE_SECONDS", default=900)
GOVHUB_EXPORT_RETENTION_DAYS: int = env.int("GOVHUB_EXPORT_RETENTION_DAYS", default=90)

# Dispatch: the local runner's state files; how long a cancel waits for the scheduler before the
# confirmation is left to a retry; /metrics access (a bearer token, or an allow-list of client
# addresses / networks — /metrics is refused when neither is configured).
GOVHUB_INSTANCE: str = env("GOVHUB_INSTANCE", default="")  # "" = the database name (apps/dispatch/services.py)
GOVHUB_LOCAL_RUNNER_DIR = Path(env("GOVHUB_LOCAL_RUNNER_DIR", default=str(BASE_DIR / "var" / "local-jobs")))
GOVHUB_DISPATCH_CANCEL_WAIT: float = env.float("GOVHUB_DISPATCH_CANCEL_WAIT", default=2.0)
GOVHUB_DISPATCH_PAUSE_AFTER_SUBMIT: float = 0.0  # test-only fault injection, see settings/test.py
GOVHUB_METRICS_TOKEN: str = env("GOVHUB_METRICS_TOKEN", default="")
GOVHUB_METRICS_ALLOWED_IPS: list[str] = env.list("GOVHUB_METRICS_ALLOWED_IPS", default=[])

# Notifications by email (guardrail cancels, budget thresholds): the console outside production.
EMAIL_BACKEND: str = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL: str = env("DEFAULT_FROM_EMAIL", default="govhub <govhub@localhost>")
