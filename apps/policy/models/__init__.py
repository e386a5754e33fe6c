from .decisions import Decision, DecisionMode, Outcome
from .policies import CONTENT_FIELDS, Action, Policy, PolicyTestRun, PolicyVersion, Template, VersionState, WhatIfReport
from .reference import Budget, EvaluationStatus, JurisdictionLanguage, ModelEvaluation, TransferBasis, TransferRule
from .waivers import Waiver, WaiverState

__all__ = [
    "CONTENT_FIELDS", "Action", "Budget", "Decision", "DecisionMode", "EvaluationStatus", "JurisdictionLanguage",
    "ModelEvaluation", "Outcome", "Policy", "PolicyTestRun", "PolicyVersion", "Template", "TransferBasis", "TransferRule",
    "VersionState", "Waiver", "WaiverState", "WhatIfReport",
]
