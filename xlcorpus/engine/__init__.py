"""Engines run pipeline steps: ``local`` (process pool, default) and ``ray`` (Ray Data)."""

from .core import FunctionStage, Reject, Stage, StageOutput, Step
from .local import LocalEngine, StepReport

__all__ = ["FunctionStage", "LocalEngine", "Reject", "Stage", "StageOutput", "Step", "StepReport"]
