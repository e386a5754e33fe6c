"""Prometheus metrics at ``/metrics``, computed from PostgreSQL at scrape time (web, worker and
beat are separate processes; the database is the one place that knows everything, so no
multiprocess registry is needed): jobs by state, decisions by outcome and rule, dispatch latency
(govhub's own share, and approved → running), GPU-hours, energy, CO₂e and spend by project, budget
use, GPUs in use by cluster.

Access: ``Authorization: Bearer <GOVHUB_METRICS_TOKEN>`` or a client address inside
``GOVHUB_METRICS_ALLOWED_IPS``; nothing else (401/403). docs/grafana-dashboard.json reads these.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from apps.jobs.models import ACTIVE_ON_CLUSTER, Job, JobState

from .models import UsageRecord

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _histogram(name: str, doc: str, expression: str, where: str) -> HistogramMetricFamily:
    """A cumulative histogram of ``expression`` (seconds) over usage records, in one query."""
    table = UsageRecord._meta.db_table
    buckets = ", ".join(f"count(*) FILTER (WHERE ({expression}) <= {b})" for b in LATENCY_BUCKETS)
    with connection.cursor() as cur:
        cur.execute(f"SELECT {buckets}, count(*), coalesce(sum({expression}), 0) FROM {table} WHERE {where}")  # noqa: S608 - constants only
        row = cur.fetchone()
    counts, total, sum_value = row[:-2], row[-2], float(row[-1])
    family = HistogramMetricFamily(name, doc)
    family.add_metric([], [(str(b), c) for b, c in zip(LATENCY_BUCKETS, counts, strict=True)] + [("+Inf", total)], sum_value)
    return family


class GovhubCollector:
    def collect(self) -> Iterator:
        jobs = GaugeMetricFamily("govhub_jobs", "Jobs by state.", labels=["state"])
        counts = dict(Job.objects.order_by().values_list("state").annotate(n=Count("id")))
        for state in JobState.values:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs
        yield from self._decisions()
        own = ("extract(epoch from (submit_started_at - approved_at)) + extract(epoch from (recorded_at - submit_finished_at))")
        yield _histogram("govhub_dispatch_overhead_seconds", "govhub's own share of dispatch: approved → submit call, "
                         "and submit answer → recorded.", own,
                         "approved_at IS NOT NULL AND submit_started_at IS NOT NULL AND recorded_at IS NOT NULL")
        yield _histogram("govhub_dispatch_to_running_seconds", "Approved → first seen running on the scheduler.",
                         "extract(epoch from (running_seen_at - approved_at))", "approved_at IS NOT NULL AND running_seen_at IS NOT NULL")
        yield _histogram("govhub_cancel_ack_seconds", "Guardrail cancel requested → acknowledged by the scheduler.",
                         "extract(epoch from (cancel_acked_at - cancel_requested_at))",
                         "cancel_requested_at IS NOT NULL AND cancel_acked_at IS NOT NULL")
        yield from self._usage()

    def _decisions(self) -> Iterator:
        from apps.policy.models import Decision

        outcomes = CounterMetricFamily("govhub_policy_decisions", "Policy decisions by outcome and mode.", labels=["outcome", "mode"])
        for outcome, mode, n in Decision.objects.order_by().values_list("outcome", "mode").annotate(n=Count("id")):
            outcomes.add_metric([outcome, mode], n)
        yield outcomes
        rules = CounterMetricFamily("govhub_policy_violations", "Rule violations in decisions, by outcome and policy.",
                                    labels=["outcome", "policy"])
        table = Decision._meta.db_table
        with connection.cursor() as cur:
            cur.execute(
                # results is stored verbatim (json); read as jsonb for the array operators.
                f"SELECT d.outcome, coalesce(v->>'policy', '?'), count(*) FROM {table} d, LATERAL (SELECT d.results::jsonb AS j) r, "  # noqa: S608
                "jsonb_array_elements(coalesce(r.j->'global', '[]'::jsonb) || coalesce(r.j->'clusters'->(r.j->>'chosen'), '[]'::jsonb)) v "
                "GROUP BY 1, 2")
            for outcome, policy, n in cur.fetchall():
                rules.add_metric([outcome, policy], n)
        yield rules

    def _usage(self) -> Iterator:
        rows = (UsageRecord.objects.order_by().values("project__slug", "currency")
                .annotate(gpu_hours=Sum("gpu_hours"), energy=Sum("energy_kwh"), co2e=Sum("co2e_kg"), cost=Sum("cost")))
        gpu_hours = CounterMetricFamily("govhub_gpu_hours", "GPU-hours used, by project.", labels=["project"])
        energy = CounterMetricFamily("govhub_energy_kwh", "Energy used (telemetry or estimate), by project.", labels=["project"])
        co2e = CounterMetricFamily("govhub_co2e_kg", "CO₂e from the clusters' grid intensity, by project.", labels=["project"])
        spend = CounterMetricFamily("govhub_spend", "Spend on GPU time, by project and currency.", labels=["project", "currency"])
        for row in rows:
            gpu_hours.add_metric([row["project__slug"]], row["gpu_hours"] or 0)
            energy.add_metric([row["project__slug"]], row["energy"] or 0)
            co2e.add_metric([row["project__slug"]], row["co2e"] or 0)
            spend.add_metric([row["project__slug"], row["currency"]], float(row["cost"] or 0))
        yield from (gpu_hours, energy, co2e, spend)
        in_use = GaugeMetricFamily("govhub_cluster_gpus_in_use", "GPUs held by jobs on each cluster.", labels=["cluster"])
        for name, gpus in (Job.objects.filter(state__in=ACTIVE_ON_CLUSTER).order_by().values_list("cluster__name")
                           .annotate(n=Sum("gpus"))):
            in_use.add_metric([name or "?"], gpus or 0)
        yield in_use
        yield self._budgets()

    def _budgets(self) -> GaugeMetricFamily:
        from apps.policy.models import Budget

        from .usage import budget_status

        used = GaugeMetricFamily("govhub_budget_used_ratio", "Budget used (1 = the limit), by project and dimension.",
                                 labels=["project", "dimension"])
        for project_id, slug in Budget.objects.values_list("project_id", "project__slug"):
            status = budget_status(project_id)
            for dim in status.dimensions if status else []:
                used.add_metric([slug, dim.name], dim.percent / 100)
        return used


def allowed(request: HttpRequest) -> tuple[bool, int]:
    """(allowed, status when not): a valid bearer token, or a client inside the allow-list."""
    token = settings.GOVHUB_METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return (hmac.compare_digest(header[7:].strip().encode(), token.encode()), 401)
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False, 403
    for network in settings.GOVHUB_METRICS_ALLOWED_IPS:
        try:
            if client in ipaddress.ip_network(network, strict=False):
                return True, 200
        except ValueError:
            continue
    return False, 401 if token else 403


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    ok, code = allowed(request)
    if not ok:
        response = HttpResponse("metrics need a bearer token or an allowed client address\n", status=code, content_type="text/plain")
        if code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="govhub-metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GovhubCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
