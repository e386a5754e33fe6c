from django.conf import settings


def govhub(request):
    return {"GOVHUB_ENV": settings.GOVHUB_ENV}
