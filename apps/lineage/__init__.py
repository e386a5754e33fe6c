"""Lineage: OpenLineage ingestion, the lineage graph, and the constraints that flow down it."""
