"""Settings: one typed source (the environment), three profiles chosen by ``GOVHUB_ENV``.

``development`` (default) and ``test`` run against the embedded PostgreSQL and Redis when
``DATABASE_URL`` / ``REDIS_URL`` are unset; ``production`` requires both and refuses to start
with DEBUG on or a default secret.
"""

from .base import *  # noqa: F403
from .base import GOVHUB_ENV

if GOVHUB_ENV == "production":
    from .production import *  # noqa: F403
elif GOVHUB_ENV == "test":
    from .test import *  # noqa: F403
