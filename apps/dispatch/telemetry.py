"""GPU telemetry in the NVIDIA DCGM exporter's Prometheus text format, parsed with the official
Prometheus parser (``prometheus_client.parser``), never with regular expressions.

Series are mapped to jobs by their labels: ``namespace`` + ``pod`` on Kubernetes (the pod of
Job ``govhub-12-ab12cd34`` is ``govhub-12-ab12cd34-<suffix>``), ``hpc_job`` on Slurm (the
exporter's HPC job mapping). The host label is ``Hostname`` in older exporter releases and
``hostname`` in newer ones; both are read.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

POWER = "DCGM_FI_DEV_POWER_USAGE"  # W (gauge)
ENERGY = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"  # mJ since boot (counter)
UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent
FB_USED = "DCGM_FI_DEV_FB_USED"  # MiB
WANTED = {POWER, ENERGY, UTIL, FB_USED}


class TelemetryUnavailable(Exception):
    pass


@dataclass
class GpuReading:
    uuid: str
    host: str
    labels: dict[str, str]
    power_w: float | None = None
    energy_mj: float | None = None
    util_percent: float | None = None
    fb_used_mib: float | None = None


@dataclass
class JobTelemetry:
    """The GPUs one job holds in one scrape."""

    gpus: list[GpuReading] = field(default_factory=list)

    @property
    def power_w(self) -> float | None:
        values = [g.power_w for g in self.gpus if g.power_w is not None]
        return sum(values) if values else None

    @property
    def util_percent(self) -> float | None:
        values = [g.util_percent for g in self.gpus if g.util_percent is not None]
        return sum(values) / len(values) if values else None

    @property
    def fb_used_mib(self) -> float | None:
        values = [g.fb_used_mib for g in self.gpus if g.fb_used_mib is not None]
        return sum(values) if values else None

    def energy_counters(self) -> dict[str, float]:
        return {g.uuid: g.energy_mj for g in self.gpus if g.energy_mj is not None}


def parse(text: str) -> list[GpuReading]:
    """One reading per GPU (keyed by UUID, else host + gpu index)."""
    readings: dict[str, GpuReading] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in WANTED:
            continue
        for sample in family.samples:
            # The parser gives a counter's samples a "_total" suffix (and may add "_created").
            if sample.name not in (family.name, f"{family.name}_total"):
                continue
            labels = dict(sample.labels)
            host = labels.get("Hostname") or labels.get("hostname") or ""
            uuid = labels.get("UUID") or f"{host}/gpu{labels.get('gpu', '?')}"
            reading = readings.setdefault(uuid, GpuReading(uuid=uuid, host=host, labels=labels))
            for key in ("pod", "namespace", "container", "hpc_job"):
                if labels.get(key) and not reading.labels.get(key):
                    reading.labels[key] = labels[key]
            value = float(sample.value)
            if family.name == POWER:
                reading.power_w = value
            elif family.name == ENERGY:
                reading.energy_mj = value
            elif family.name == UTIL:
                reading.util_percent = value
            elif family.name == FB_USED:
                reading.fb_used_mib = value
    return list(readings.values())


def matches(reading: GpuReading, match: dict[str, str]) -> bool:
    """Does this GPU belong to the job described by ``match`` (from the backend's status)?"""
    if not match:
        return False
    labels = reading.labels
    if "hpc_job" in match:
        return labels.get("hpc_job") == match["hpc_job"]
    if "pod_prefix" in match:
        return labels.get("namespace") == match.get("namespace") and labels.get("pod", "").startswith(match["pod_prefix"])
    return False


def for_job(readings: Iterable[GpuReading], match: dict[str, str]) -> JobTelemetry | None:
    gpus = [r for r in readings if matches(r, match)]
    return JobTelemetry(gpus) if gpus else None


def read_source(source: str, timeout: float = 5.0) -> str:
    """The exporter's text from a URL (``http(s)://…/metrics``) or a file path."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=timeout) as resp:  # noqa: S310 - configured URL
                return resp.read().decode("utf-8", errors="replace")
        return Path(source.removeprefix("file://")).read_text()
    except OSError as exc:
        raise TelemetryUnavailable(f"{source}: {exc}")


def scrape(source: str) -> list[GpuReading]:
    try:
        return parse(read_source(source))
    except ValueError as exc:  # the parser's error for malformed exposition text
        raise TelemetryUnavailable(f"{source}: not Prometheus text format ({exc})")
