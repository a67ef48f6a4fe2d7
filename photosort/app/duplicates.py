"""Duplicate clusters as the app shows them: their kinds, and what moving a cluster's others to the trash
would move (reference folders left alone). The widgets read these here, never from the library engine."""

from ..core.dupes import EXACT, KINDS, NEAR, SIMILAR, Cluster
from ..core.resolve import plan as trash_plan

__all__ = ["EXACT", "KINDS", "NEAR", "SIMILAR", "Cluster", "trash_plan"]
