from .constraints import EffectiveConstraint
from .datasets import ColumnEdge, DatasetAlias, DatasetField, DatasetMeta
from .events import EventKind, RawEvent
from .graph import Edge, Job, Namespace, Run, RunIO, RunState, RunTransition

__all__ = [
    "ColumnEdge", "DatasetAlias", "DatasetField", "DatasetMeta", "Edge", "EffectiveConstraint", "EventKind", "Job",
    "Namespace", "RawEvent", "Run", "RunIO", "RunState", "RunTransition",
]
