"""The lineage graph: walks with a recursive CTE, node details restricted to what a user may see.

Nodes are catalog assets (id > 0) and jobs (−id) in ``lineage_graph_edge`` (job-level OpenLineage
edges plus the catalog's base-model and training-dataset links); columns have their own edge table.
A walk is breadth-first, one CTE row per depth: ``frontier`` holds the nodes first reached at that
depth and ``visited`` every node reached so far, so no node is expanded twice (cycles end, and
diamond-shaped graphs cost their node count, not their path count)."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.core import sql

MAX_DEPTH = 100
NODE_CAP = 200_000  # a walk stops widening past this many nodes and says it was truncated

_WALK = """
WITH RECURSIVE walk(depth, frontier, visited) AS (
    SELECT 0, %(seeds)s::bigint[], %(seeds)s::bigint[]
    UNION ALL
    SELECT w.depth + 1, n.next, w.visited || n.next
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT array_agg(x.node) AS next FROM (
            SELECT e.{far} AS node FROM {table} e WHERE e.{near} = ANY(w.frontier){extra}
            EXCEPT
            SELECT unnest(w.visited)
        ) x
    ) n
    WHERE w.depth < %(depth)s AND n.next IS NOT NULL AND cardinality(w.visited) < %(cap)s
)
SELECT w.depth, n.node, {project} FROM walk w CROSS JOIN LATERAL unnest(w.frontier) AS n(node) {joins}WHERE w.depth > 0
"""
# Each reached node comes back with its project, so visibility needs no further query.
_GRAPH_PROJECT = ("COALESCE(a.project_id, j.project_id)",
                  "LEFT JOIN catalog_asset a ON n.node > 0 AND a.id = n.node LEFT JOIN lineage_job j ON n.node < 0 AND j.id = -n.node ")
_COLUMN_PROJECT = ("a.project_id", "LEFT JOIN lineage_datasetfield f ON f.id = n.node LEFT JOIN catalog_asset a ON a.id = f.asset_id ")

GRAPH_TABLE = "lineage_graph_edge"
COLUMN_TABLE = "lineage_columnedge"


@dataclass
class Walk:
    depths: dict[int, int] = field(default_factory=dict)  # node → depth (first reached)
    projects: dict[int, int | None] = field(default_factory=dict)  # node → the project it belongs to
    truncated: bool = False  # stopped by the node cap, or nodes lie beyond the depth limit


def walk(seeds: list[int], direction: str, max_depth: int, *, columns: bool = False, cap: int = NODE_CAP,
         start_depth: int = 0) -> Walk:
    """Nodes reachable from ``seeds`` (not including them) within ``max_depth`` hops. The walk goes
    one hop further to tell whether anything lies beyond the limit (``truncated``)."""
    if not seeds or max_depth <= 0:
        return Walk()
    near, far = ("src", "dst") if direction == "down" else ("dst", "src")
    if columns:
        query = _WALK.format(table=COLUMN_TABLE, near=f"{near}_id", far=f"{far}_id", extra=" AND e.dst_id IS NOT NULL",
                             project=_COLUMN_PROJECT[0], joins=_COLUMN_PROJECT[1])
    else:
        query = _WALK.format(table=GRAPH_TABLE, near=near, far=far, extra="", project=_GRAPH_PROJECT[0], joins=_GRAPH_PROJECT[1])
    result = Walk()
    size = len(seeds)
    for depth, node, project in sql.rows(query, {"seeds": list(seeds), "depth": max_depth + 1, "cap": cap}):
        if depth > max_depth:
            result.truncated = True
            continue
        if node not in result.depths:
            result.depths[node] = depth + start_depth
            result.projects[node] = project
            size += 1
    result.truncated = result.truncated or size >= cap
    return result


def edges_among(nodes: set[int], *, columns: bool = False) -> list[tuple[int, int, str]]:
    """Edges whose both ends are in ``nodes``: (src, dst, origin)."""
    if not nodes:
        return []
    ids = list(nodes)
    if columns:
        found = sql.rows("""SELECT src_id, dst_id, transformation_type || CASE WHEN subtype <> '' THEN '/' || subtype ELSE '' END
                            FROM lineage_columnedge WHERE src_id = ANY(%s::bigint[]) AND dst_id = ANY(%s::bigint[])""", [ids, ids])
    else:
        found = sql.rows("SELECT src, dst, origin FROM lineage_graph_edge WHERE src = ANY(%s::bigint[]) AND dst = ANY(%s::bigint[])", [ids, ids])
    return sorted(set(found))


def edges_touching(nodes: set[int], others: set[int], *, columns: bool = False) -> list[tuple[int, int, str]]:
    """Edges with one end in ``nodes`` and the other in ``nodes | others`` (the ends are checked
    here, in a set, rather than against a long array in SQL)."""
    if not nodes:
        return []
    ids, ends = list(nodes), nodes | others
    if columns:
        found = sql.rows("""SELECT src_id, dst_id, transformation_type || CASE WHEN subtype <> '' THEN '/' || subtype ELSE '' END
                            FROM lineage_columnedge WHERE src_id = ANY(%s::bigint[]) OR dst_id = ANY(%s::bigint[])""", [ids, ids])
    else:
        found = sql.rows("""SELECT src, dst, origin FROM lineage_graph_edge WHERE src = ANY(%s::bigint[])
                            UNION SELECT src, dst, origin FROM lineage_graph_edge WHERE dst = ANY(%s::bigint[])""", [ids, ids])
    return sorted({(s, d, o) for s, d, o in found if s in ends and d in ends})


def upstream_assets(asset_id: int, max_depth: int = MAX_DEPTH) -> dict[int, int]:
    """{asset id: depth} of every asset upstream of ``asset_id`` (jobs left out)."""
    found = walk([asset_id], "up", max_depth)
    return {node: depth for node, depth in found.depths.items() if node > 0}


def downstream_nodes(seeds: list[int], max_depth: int = MAX_DEPTH) -> dict[int, int]:
    return walk(seeds, "down", max_depth).depths


def collapse_hidden(edges: list[tuple[int, int, str]], visible: set[int]) -> list[tuple[int, int, str]]:
    """Edges between visible nodes, with paths through nodes the user may not see replaced by one
    ``indirect`` edge (the hidden nodes themselves are not disclosed)."""
    direct = [e for e in edges if e[0] in visible and e[1] in visible]
    hidden_out: dict[int, set[int]] = {}
    starts: list[int] = []
    for src, dst, _ in edges:
        if src not in visible:
            hidden_out.setdefault(src, set()).add(dst)
        elif dst not in visible:
            starts.append((src, dst))  # type: ignore[arg-type]
    indirect: set[tuple[int, int, str]] = set()
    for src, first in starts:  # type: ignore[misc]
        stack, seen = [first], {first}
        while stack:
            node = stack.pop()
            for nxt in hidden_out.get(node, ()):
                if nxt in visible:
                    if nxt != src:
                        indirect.add((src, nxt, "indirect"))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
    known = {(s, d) for s, d, _ in direct}
    return direct + sorted(e for e in indirect if (e[0], e[1]) not in known)


def node_key(node: int) -> str:
    return f"asset:{node}" if node > 0 else f"job:{-node}"

