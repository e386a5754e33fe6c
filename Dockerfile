# Production image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=govhub.settings

WORKDIR /app

# Dependencies first, so code edits do not invalidate this layer.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# collectstatic imports production settings, which insist on real-looking values; none of
# these reach the running containers (they get .env) and nothing connects at build time.
RUN GOVHUB_ENV=production \
    SECRET_KEY=build-only-dummy-secret-key-not-used-at-runtime-0123456789abcdef \
    DATABASE_URL=postgres://build@localhost:5432/build \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 --home-dir /app govhub \
 && mkdir -p var/media \
 && chown -R govhub:govhub var

USER govhub
EXPOSE 8000
CMD ["gunicorn", "govhub.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "--no-control-socket"]
