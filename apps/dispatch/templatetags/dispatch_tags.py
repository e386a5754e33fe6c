"""``{% load dispatch_tags %}{% cluster_usage cluster %}``: a cluster's load, spend and energy
(the figures of the projects the viewer may see), for any cluster page."""

from __future__ import annotations

from typing import Any

from django import template

from ..views import cluster_usage as usage_for

register = template.Library()


@register.inclusion_tag("dispatch/_cluster_usage.html", takes_context=True)
def cluster_usage(context: dict[str, Any], cluster) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"row": usage_for(user, [cluster])[cluster.pk] if user is not None else None}
