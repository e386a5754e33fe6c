"""Columns (the ``schema`` facet, column tags) and column-level lineage (``columnLineage``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connection

from .context import IngestContext
from .normalize import DatasetRef
from .store import jsonb

if TYPE_CHECKING:
    from .assets import AssetResolver

MAX_FIELD = 500


def _flatten(fields: Any, prefix: str = "") -> list[tuple[str, str, str, int | None]]:
    """Schema fields → [(dotted name, type, description, ordinal)]; nested struct fields get their
    parent's name as a prefix."""
    out: list[tuple[str, str, str, int | None]] = []
    for position, item in enumerate(fields or [], start=1):
        if not isinstance(item, dict) or not item.get("name"):
            continue
        name = f"{prefix}{item['name']}"
        ordinal = item.get("ordinal_position") if isinstance(item.get("ordinal_position"), int) else (position if not prefix else None)
        if len(name) <= MAX_FIELD:
            out.append((name, str(item.get("type", ""))[:200], str(item.get("description", "")), ordinal))
        out.extend(_flatten(item.get("fields"), prefix=f"{name}."))
    return out


def _column_tags(ref: DatasetRef) -> dict[str, list[dict[str, str]]]:
    facet = ref.facets.get("tags")
    out: dict[str, list[dict[str, str]]] = {}
    for tag in (facet.get("tags") or []) if isinstance(facet, dict) else []:
        if isinstance(tag, dict) and tag.get("field") and tag.get("key"):
            out.setdefault(str(tag["field"])[:MAX_FIELD], []).append({"key": str(tag["key"]), "value": str(tag.get("value", ""))})
    return out


def apply_schema(ref: DatasetRef, asset_id: int, ctx: IngestContext) -> None:
    schema = ref.facets.get("schema")
    rows = _flatten(schema.get("fields")) if isinstance(schema, dict) else []
    tags = _column_tags(ref)
    names = [r[0] for r in rows]
    tag_only = [name for name in tags if name not in set(names)]
    with connection.cursor() as cur:
        if rows:
            cur.execute(
                """INSERT INTO lineage_datasetfield (asset_id, name, data_type, description, ordinal, tags, in_schema, first_seen)
                   SELECT %s, n, t, d, o, g::jsonb, true, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::int[], %s::text[])
                        AS x(n, t, d, o, g)
                   ON CONFLICT (asset_id, name) DO UPDATE SET data_type = EXCLUDED.data_type, description = EXCLUDED.description,
                        ordinal = EXCLUDED.ordinal, tags = EXCLUDED.tags, in_schema = true""",
                [asset_id, ctx.now, names, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                 [jsonb(tags.get(n, [])) for n in names]],
            )
            cur.execute("UPDATE lineage_datasetfield SET in_schema = false WHERE asset_id = %s AND in_schema AND NOT (name = ANY(%s))",
                        [asset_id, names])
        if tag_only:
            cur.execute(
                """INSERT INTO lineage_datasetfield (asset_id, name, data_type, description, tags, in_schema, first_seen)
                   SELECT %s, n, '', '', g::jsonb, false, %s FROM unnest(%s::text[], %s::text[]) AS x(n, g)
                   ON CONFLICT (asset_id, name) DO UPDATE SET tags = EXCLUDED.tags""",
                [asset_id, ctx.now, tag_only, [jsonb(tags[n]) for n in tag_only]],
            )


def ensure_fields(pairs: set[tuple[int, str]], ctx: IngestContext) -> dict[tuple[int, str], int]:
    """{(asset id, column name): field id}, creating columns known only from lineage."""
    if not pairs:
        return {}
    ordered = sorted(pairs)
    assets, names = [p[0] for p in ordered], [p[1] for p in ordered]
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO lineage_datasetfield (asset_id, name, data_type, description, tags, in_schema, first_seen)
               SELECT a, n, '', '', '[]'::jsonb, false, %s FROM unnest(%s::bigint[], %s::text[]) AS x(a, n)
               ON CONFLICT (asset_id, name) DO NOTHING""",
            [ctx.now, assets, names],
        )
        cur.execute(
            """SELECT f.asset_id, f.name, f.id FROM lineage_datasetfield f
               JOIN unnest(%s::bigint[], %s::text[]) AS x(a, n) ON f.asset_id = x.a AND f.name = x.n""",
            [assets, names],
        )
        return {(a, n): i for a, n, i in cur.fetchall()}


def _transformations(entry: dict[str, Any], legacy: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    found = [(str(t.get("type", ""))[:32], str(t.get("subtype", ""))[:64], str(t.get("description", "")), bool(t.get("masking", False)))
             for t in entry.get("transformations") or [] if isinstance(t, dict)]
    if found:
        return found
    kind = str(legacy.get("transformationType", ""))[:32]
    return [(kind, "", str(legacy.get("transformationDescription", "")), kind.upper() == "MASKED")]


def apply_column_lineage(ref: DatasetRef, dst_asset: int, resolver: AssetResolver, job_id: int | None, ctx: IngestContext) -> None:
    facet = ref.facets.get("columnLineage")
    if not isinstance(facet, dict):
        return
    # (src asset, src field, dst field or None, type, subtype, description, masking)
    edges: list[tuple[int, str, str | None, str, str, str, bool]] = []

    def add(entry: Any, dst_field: str | None, legacy: dict[str, Any]) -> None:
        if not isinstance(entry, dict) or not entry.get("field"):
            return
        row = resolver.rows.get((str(entry.get("namespace", "")), str(entry.get("name", ""))))
        if row is None or len(str(entry["field"])) > MAX_FIELD:
            return
        for kind, subtype, description, masking in _transformations(entry, legacy):
            edges.append((row.id, str(entry["field"]), dst_field, kind, subtype, description, masking))

    for out_field, spec in (facet.get("fields") or {}).items():
        if isinstance(spec, dict) and len(out_field) <= MAX_FIELD:
            for entry in spec.get("inputFields") or []:
                add(entry, out_field, spec)
    for entry in facet.get("dataset") or []:
        add(entry, None, {})
    if not edges:
        return
    pairs = {(e[0], e[1]) for e in edges} | {(dst_asset, e[2]) for e in edges if e[2] is not None}
    ids = ensure_fields(pairs, ctx)
    rows = sorted({(ids[(e[0], e[1])], ids[(dst_asset, e[2])] if e[2] is not None else None, e[3], e[4], e[5], e[6]) for e in edges},
                  key=lambda r: (r[0], r[1] or 0, r[2], r[3]))
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO lineage_columnedge (src_id, dst_id, dst_asset_id, transformation_type, subtype, description, masking, job_id, first_seen)
               SELECT s, d, %s, t, st, ds, m, %s, %s FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::text[], %s::bool[])
                    AS x(s, d, t, st, ds, m)
               ON CONFLICT (src_id, dst_id, dst_asset_id, transformation_type, subtype) DO NOTHING""",
            [dst_asset, job_id, ctx.now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
             [r[4] for r in rows], [r[5] for r in rows]],
        )
