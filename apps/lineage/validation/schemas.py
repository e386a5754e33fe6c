"""The vendored schemas (``apps/lineage/schemas``) as a jsonschema registry, an index of standard
facets by where they sit and their key, and the few facts of each core version that the hot-path
validator needs. Built once per process."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
OPENLINEAGE_BASE = "https://openlineage.io/spec/"
GOVHUB_BASE = "https://govhub.local/spec/"
LATEST_CORE = "2-0-2"
EVENT_TYPES = ("RunEvent", "DatasetEvent", "JobEvent")

# Where a facet sits in an event, named by the suffix of its definition.
LOCATIONS = ("run", "job", "dataset", "input", "output")
_SUFFIXES = (("InputDatasetFacet", "input"), ("OutputDatasetFacet", "output"), ("DatasetFacet", "dataset"),
             ("JobFacet", "job"), ("RunFacet", "run"))
_VERSION = re.compile(r"^(\d+)-(\d+)-(\d+)$")

# A schema that nothing satisfies, for references the official files make but do not ship (the
# 1-0-x cores point at "facets/X.json" next to themselves): an unresolvable branch accepts nothing.
_NOTHING = Resource.from_contents({"$schema": "https://json-schema.org/draft/2020-12/schema", "not": {}})


def _version_key(version: str) -> tuple[int, ...]:
    m = _VERSION.match(version)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


@dataclass(frozen=True)
class CoreVersion:
    version: str
    defs_key: str  # "$defs" or "definitions"
    event_types: tuple[str, ...]  # event definitions this version has
    event_type_enum: frozenset[str]
    deleted_flag: bool  # JobFacet/DatasetFacet declare an optional boolean `_deleted`
    embedded_facets: bool  # the core defines standard facets itself (1-0-0, 1-0-1)


@dataclass(frozen=True)
class FacetSchema:
    uri: str  # the file's $id
    version: str
    key: str
    location: str


def _load_files() -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted((SCHEMA_DIR / "openlineage").rglob("*.json")):
        docs[OPENLINEAGE_BASE + path.relative_to(SCHEMA_DIR / "openlineage").as_posix()] = json.loads(path.read_text())
    for path in sorted((SCHEMA_DIR / "govhub").rglob("*.json")):
        docs[GOVHUB_BASE + path.relative_to(SCHEMA_DIR / "govhub").as_posix()] = json.loads(path.read_text())
    return docs


def _retrieve(uri: str) -> Resource:
    if uri.startswith((OPENLINEAGE_BASE, GOVHUB_BASE)):
        return _NOTHING
    raise NoSuchResource(ref=uri)


@functools.cache
def documents() -> dict[str, dict[str, Any]]:
    return _load_files()


@functools.cache
def registry() -> Registry:
    resources = [(uri, Resource.from_contents(doc)) for uri, doc in documents().items()]
    return Registry(retrieve=_retrieve).with_resources(resources).crawl()


def _event_type_enum(defs: dict[str, Any]) -> frozenset[str]:
    run_event = defs["RunEvent"]
    parts = [run_event, *run_event.get("allOf", [])]
    for part in parts:
        prop = part.get("properties", {}).get("eventType")
        if prop:
            return frozenset(prop["enum"])
    return frozenset()


@functools.cache
def core_versions() -> dict[str, CoreVersion]:
    out: dict[str, CoreVersion] = {}
    for uri, doc in documents().items():
        m = re.match(re.escape(OPENLINEAGE_BASE) + r"(\d+-\d+-\d+)/OpenLineage\.json$", uri)
        if not m:
            continue
        defs_key = "$defs" if "$defs" in doc else "definitions"
        defs = doc[defs_key]
        deleted = any("_deleted" in json.dumps(defs.get(name, {})) for name in ("JobFacet", "DatasetFacet"))
        out[m.group(1)] = CoreVersion(
            version=m.group(1), defs_key=defs_key, event_types=tuple(t for t in EVENT_TYPES if t in defs),
            event_type_enum=_event_type_enum(defs), deleted_flag=deleted,
            embedded_facets=any(name.endswith("Facet") and name not in ("BaseFacet", "CustomFacet", "RunFacet", "JobFacet",
                                "DatasetFacet", "InputDatasetFacet", "OutputDatasetFacet") for name in defs),
        )
    return out


def _locations(doc: dict[str, Any], key: str) -> set[str]:
    """Where a facet file's facet may sit: from the definitions its key refers to."""
    text = json.dumps(doc["properties"][key])
    names = set(re.findall(r"#/\$defs/(\w+)", text))
    found = set()
    for name in names:
        for suffix, location in _SUFFIXES:
            if name.endswith(suffix):
                found.add(location)
                break
    return found


@functools.cache
def facet_index() -> dict[tuple[str, str], dict[str, FacetSchema]]:
    """{(location, key): {version: FacetSchema}} for every standard (and govhub) facet."""
    index: dict[tuple[str, str], dict[str, FacetSchema]] = {}
    for uri, doc in documents().items():
        m = re.search(r"/facets/(\d+-\d+-\d+)/\w+\.json$", uri)
        if not m or "properties" not in doc:
            continue
        for key in doc["properties"]:
            for location in _locations(doc, key):
                index.setdefault((location, key), {})[m.group(1)] = FacetSchema(uri, m.group(1), key, location)
    return index


@functools.cache
def _facet_choices() -> dict[tuple[str, str], tuple[FacetSchema, dict[str, FacetSchema]]]:
    """{(location, key): (newest version, {file uri: version})}: the lookups the hot path makes."""
    return {
        where: (versions[max(versions, key=_version_key)], {schema.uri: schema for schema in versions.values()})
        for where, versions in facet_index().items()
    }


def facet_schema_for(location: str, key: str, schema_url: Any = None) -> FacetSchema | None:
    """The schema a standard facet is checked against: the newest vendored version for its key and
    place. ``_schemaURL`` is not followed: in the wild it rarely resolves, and some published facet
    versions are broken (1-0-0 ProcessingEngineRunFacet requires a field it does not define).
    None for a facet govhub does not know (a custom facet is checked only as a facet)."""
    choice = _facet_choices().get((location, key))
    return choice[0] if choice is not None else None


def core_for(schema_url: Any) -> tuple[CoreVersion, str | None]:
    """(core version, event type named by the URL's fragment or None) for an event's schemaURL.
    URLs outside the vendored specs (``http://test.schema.url``, a future version) get the newest
    vendored core and its root ``oneOf``."""
    versions = core_versions()
    if isinstance(schema_url, str) and schema_url.startswith(OPENLINEAGE_BASE):
        base, _, fragment = schema_url.partition("#")
        m = re.match(re.escape(OPENLINEAGE_BASE) + r"(\d+-\d+-\d+)/OpenLineage\.json$", base)
        if m and m.group(1) in versions:
            core = versions[m.group(1)]
            name = fragment.rstrip("/").rsplit("/", 1)[-1] if fragment else ""
            return core, name if name in core.event_types else None
    return versions[LATEST_CORE], None


def core_ref(core: CoreVersion, event_type: str | None) -> str:
    uri = f"{OPENLINEAGE_BASE}{core.version}/OpenLineage.json"
    return f"{uri}#/{core.defs_key}/{event_type}" if event_type else uri
