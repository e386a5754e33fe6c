"""Usage accounting and budgets: GPU-hours, energy (telemetry, else GPUs × power × time), cost
and CO₂e per job and per project; budget status against warn and hard thresholds; burn-down and
a forecast of when the budget runs out."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.compute.models import ComputeCluster
from apps.core import services as core

from .models import BudgetLimits, EnergySource, UsageRecord, UsageSample
from .telemetry import JobTelemetry

MJ_PER_KWH = 3.6e9
J_PER_KWH = 3.6e6


@dataclass
class Accrual:
    gpu_hours: float = 0.0
    energy_kwh: float = 0.0
    cost: Decimal = Decimal("0")
    co2e_kg: float = 0.0
    energy_source: str = EnergySource.ESTIMATE
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.gpu_hours or self.energy_kwh)


def accrue(cluster: ComputeCluster, gpus: int, seconds: float, telemetry: JobTelemetry | None,
           previous_counters: dict[str, float]) -> Accrual:
    """Usage over ``seconds`` of a job holding ``gpus``. Energy comes from the DCGM energy
    counters (mJ since boot, per GPU) when the job's GPUs were seen before, from the measured
    power draw on the first sighting, and from the cluster's nominal power otherwise."""
    seconds = max(0.0, seconds)
    out = Accrual(gpu_hours=gpus * seconds / 3600)
    if telemetry is not None:
        counters = telemetry.energy_counters()
        out.counters = counters
        known = [uuid for uuid in counters if uuid in previous_counters]
        if known:
            mj = 0.0
            for uuid in known:
                delta = counters[uuid] - previous_counters[uuid]
                mj += delta if delta >= 0 else counters[uuid]  # counter reset (GPU or exporter restart)
            out.energy_kwh, out.energy_source = mj / MJ_PER_KWH, EnergySource.TELEMETRY
        elif telemetry.power_w is not None:
            out.energy_kwh, out.energy_source = telemetry.power_w * seconds / J_PER_KWH, EnergySource.TELEMETRY
    if out.energy_source == EnergySource.ESTIMATE:
        out.energy_kwh = gpus * cluster.power_per_gpu_watts * seconds / J_PER_KWH
    out.cost = (Decimal(str(round(out.gpu_hours, 9))) * cluster.price_per_gpu_hour).quantize(Decimal("0.0001"))
    out.co2e_kg = out.energy_kwh * cluster.carbon_intensity_g_per_kwh / 1000
    return out


def record_usage(job_id: int, *, started_at: dt.datetime | None, until: dt.datetime, gpus: int,
                 telemetry: JobTelemetry | None, scheduler_state: str = "") -> UsageRecord | None:
    """Add the usage since the record was last measured (or since the job started) up to
    ``until``; one UsageSample with the deltas. Idempotent for the same ``until``."""
    with transaction.atomic():
        record = UsageRecord.objects.select_for_update().select_related("cluster").filter(job_id=job_id).first()
        if record is None:
            return None
        changed: dict[str, Any] = {"scheduler_state": scheduler_state or record.scheduler_state}
        if telemetry is not None:
            changed.update(power_w=telemetry.power_w, gpu_util_percent=telemetry.util_percent, fb_used_mib=telemetry.fb_used_mib)
        since = record.measured_until or started_at
        if since is not None and until > since:
            acc = accrue(record.cluster, gpus, (until - since).total_seconds(), telemetry, record.telemetry_counters or {})
            changed.update(
                gpu_hours=record.gpu_hours + acc.gpu_hours, energy_kwh=record.energy_kwh + acc.energy_kwh,
                cost=record.cost + acc.cost, co2e_kg=record.co2e_kg + acc.co2e_kg, measured_until=until,
                energy_source=acc.energy_source if record.energy_source != EnergySource.TELEMETRY else record.energy_source,
            )
            if acc.counters:
                changed["telemetry_counters"] = {**(record.telemetry_counters or {}), **acc.counters}
            if not acc.empty:
                UsageSample.objects.create(job_id=job_id, project_id=record.project_id, cluster_id=record.cluster_id, at=until,
                                           gpu_hours=acc.gpu_hours, energy_kwh=acc.energy_kwh, cost=acc.cost, co2e_kg=acc.co2e_kg)
        elif telemetry is not None and telemetry.energy_counters():
            changed["telemetry_counters"] = {**(record.telemetry_counters or {}), **telemetry.energy_counters()}
        UsageRecord.objects.filter(pk=job_id).update(**changed)
        for key, value in changed.items():
            setattr(record, key, value)
        return record


# --- budgets -------------------------------------------------------------------------------


@dataclass
class Dimension:
    name: str  # money | gpu_hours | energy
    label: str
    unit: str
    spent: float
    limit: float

    @property
    def percent(self) -> float:
        return 100 * self.spent / self.limit if self.limit > 0 else (100.0 if self.spent > 0 else 0.0)


@dataclass
class BudgetStatus:
    project_id: int
    currency: str
    limits: BudgetLimits | None
    dimensions: list[Dimension]
    warn_percent: int
    hard_percent: int
    period_start: dt.datetime | None
    period_end: dt.datetime | None

    @property
    def worst(self) -> Dimension | None:
        return max(self.dimensions, key=lambda d: d.percent, default=None)

    @property
    def level(self) -> str:
        worst = self.worst
        if worst is None:
            return "ok"
        if worst.percent >= self.hard_percent:
            return "hard"
        return "warn" if worst.percent >= self.warn_percent else "ok"

    def describe(self) -> str:
        worst = self.worst
        if worst is None:
            return "no limits"
        return f"{worst.label} {worst.spent:,.2f} of {worst.limit:,.2f} {worst.unit} ({worst.percent:.0f}%)"


def _period_filter(limits: BudgetLimits | None) -> Q:
    q = Q()
    if limits is not None:
        q &= Q(at__gte=limits.period_start)
        if limits.period_end:
            q &= Q(at__lt=limits.period_end)
    return q


def budget_status(project_id: int, limits: BudgetLimits | None = None) -> BudgetStatus | None:
    """Spend against the project's budget; ``limits`` (with its budget) when the caller has it."""
    from apps.policy.models import Budget

    if limits is not None:
        budget = limits.budget
    else:
        budget = Budget.objects.filter(project_id=project_id).first()
        if budget is None:
            return None
        limits = BudgetLimits.objects.filter(budget=budget).first()
    samples = UsageSample.objects.filter(_period_filter(limits), project_id=project_id)
    totals = samples.aggregate(gpu_hours=Sum("gpu_hours"), energy=Sum("energy_kwh"),
                               cost=Sum("cost", filter=Q(cluster__currency=budget.currency)))
    dims = [Dimension("money", "Spend", budget.currency, float(totals["cost"] or 0), float(budget.amount))]
    if limits is not None and limits.gpu_hours_limit is not None:
        dims.append(Dimension("gpu_hours", "GPU-hours", "GPU-h", float(totals["gpu_hours"] or 0), float(limits.gpu_hours_limit)))
    if limits is not None and limits.energy_kwh_limit is not None:
        dims.append(Dimension("energy", "Energy", "kWh", float(totals["energy"] or 0), float(limits.energy_kwh_limit)))
    return BudgetStatus(project_id, budget.currency, limits, dims, limits.warn_percent if limits else 80,
                        limits.hard_percent if limits else 100, limits.period_start if limits else None,
                        limits.period_end if limits else None)


def set_budget(project: Any, *, amount: Decimal, currency: str = "EUR", **limits: Any) -> BudgetLimits:
    """Create or change a project's budget (the policy app's money amount) and its run-time
    limits in one audited transaction. ``limits``: period_start, period_end, gpu_hours_limit,
    energy_kwh_limit, max_concurrent_gpus, warn_percent, hard_percent."""
    from apps.policy.models import Budget

    with transaction.atomic():
        budget = Budget.objects.filter(project=project).first()
        if budget is None:
            budget = core.create(Budget, {"project": project, "amount": amount, "currency": currency})
        elif budget.amount != amount or budget.currency != currency:
            budget = core.update(budget, {"amount": amount, "currency": currency})
        existing = BudgetLimits.objects.filter(budget=budget).first()
        if existing is None:
            return create_limits({"budget": budget, **limits})
        return update_limits(existing, limits)


def create_limits(fields: dict[str, Any]) -> BudgetLimits:
    return core.create(BudgetLimits, fields)


def update_limits(limits: BudgetLimits, fields: dict[str, Any], *, if_match: str | None = None) -> BudgetLimits:
    # New limits: thresholds crossed before are re-evaluated (and notified) afresh.
    return core.update(limits, {**fields, "warned_at": None, "exceeded_at": None}, if_match=if_match)


# --- burn-down and forecast ----------------------------------------------------------------


@dataclass
class BurnDown:
    dimension: Dimension
    points: list[tuple[dt.datetime, float]]  # (time, remaining)
    rate_per_day: float
    runs_out_at: dt.datetime | None


def burn_down(status: BudgetStatus, now: dt.datetime | None = None, window_days: int = 7) -> BurnDown | None:
    """Remaining budget over time for the dimension closest to its limit, hourly, and the date it
    reaches zero at the burn rate of the last ``window_days`` (linear)."""
    dim = status.worst
    if dim is None:
        return None
    now = now or timezone.now()
    field_name = {"money": "cost", "gpu_hours": "gpu_hours", "energy": "energy_kwh"}[dim.name]
    rows = (UsageSample.objects.filter(_period_filter(status.limits), project_id=status.project_id)
            .annotate(hour=TruncHour("at")).values("hour").order_by("hour").annotate(total=Sum(field_name)))
    start = status.period_start or (rows[0]["hour"] if rows else now)
    points, spent = [(start, dim.limit)], 0.0
    for row in rows:
        spent += float(row["total"] or 0)
        points.append((row["hour"], dim.limit - spent))
    points.append((now, dim.limit - dim.spent))
    window_start = max(start, now - dt.timedelta(days=window_days))
    recent = (UsageSample.objects.filter(_period_filter(status.limits), project_id=status.project_id, at__gte=window_start)
              .aggregate(total=Sum(field_name))["total"])
    days = max((now - window_start).total_seconds() / 86400, 1 / 24)
    rate = float(recent or 0) / days
    remaining = dim.limit - dim.spent
    runs_out = None
    if remaining <= 0:
        runs_out = now
    elif rate > 0:
        runs_out = now + dt.timedelta(days=remaining / rate)
        if status.period_end and runs_out > status.period_end:
            runs_out = None  # lasts the period
    return BurnDown(dim, points, rate, runs_out)
