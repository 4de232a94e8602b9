"""Quality filters that keep their scores (see :mod:`xlcorpus.filters.base`)."""

from .base import FILTERS, Filter, FilterStage, FilterStep, make_filter, reason_where

__all__ = ["FILTERS", "Filter", "FilterStage", "FilterStep", "make_filter", "reason_where"]
