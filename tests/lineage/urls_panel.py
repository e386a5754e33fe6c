"""A test-only URLconf: the asset panel include on a page of its own, as the asset page embeds it."""

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template import engines
from django.urls import include, path

from apps.catalog.models import Asset


@login_required
def panel(request, pk):
    asset = get_object_or_404(Asset.objects.restrict(request.user, "view"), pk=pk)
    page = engines["django"].from_string(PAGE)
    return HttpResponse(page.render({"asset": asset}, request))


PAGE = """{% extends "base.html" %}{% block title %}{{ asset.name }}{% endblock %}
{% block content %}<h1>{{ asset.name }}</h1>{% include "lineage/_asset_panel.html" with asset=asset %}{% endblock %}"""


urlpatterns = [path("panel/<int:pk>/", panel, name="test-lineage-panel"), path("", include("govhub.urls"))]
