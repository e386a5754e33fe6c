import re
import uuid

from django.http import HttpRequest, HttpResponse

from . import context

_VALID_RID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an id (or keeps a well-formed ``X-Request-ID`` from a proxy) that the
    audit ledger and the logs share, and echoes it back so callers can quote it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _VALID_RID.match(incoming) else uuid.uuid4().hex
        request.request_id = rid
        context.set_request_id(rid)
        context.set_actor(context.SYSTEM)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


class AuditActorMiddleware:
    """Session-authenticated users become the audit actor. API token users are set by the DRF
    authentication class, which runs later, inside the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        context.set_actor(context.Actor.for_user(getattr(request, "user", None)))
        return self.get_response(request)
