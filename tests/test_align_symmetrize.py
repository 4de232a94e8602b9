"""Symmetrization on hand-checked examples."""

import pytest

from xlcorpus.align.symmetrize import METHODS, symmetrize

# Example 1 (4x4): intersection {0-0, 1-1}; union adds 0-1 (both ends already aligned),
# 3-0 (source 3 free, target 0 taken) and 2-3 (both free), none of them next to the
# intersection except 0-1.
FWD1 = [(0, 0), (0, 1), (1, 1), (3, 0)]
REV1 = [(0, 0), (1, 1), (2, 3)]
EXPECTED1 = {
    "intersection": [(0, 0), (1, 1)],
    "union": [(0, 0), (0, 1), (1, 1), (2, 3), (3, 0)],
    "grow-diag": [(0, 0), (1, 1)],                       # 0-1 touches no free word
    "grow-diag-final": [(0, 0), (1, 1), (2, 3), (3, 0)],  # 3-0: source 3 free (OR)
    "grow-diag-final-and": [(0, 0), (1, 1), (2, 3)],      # 3-0 rejected: target 0 taken (AND)
}

# Example 2 (4x4): growing along a diagonal chain: 1-2 neighbours 1-1 (target 2 free), then
# 2-3 is a diagonal neighbour of 1-2 (source 2 free).
FWD2 = [(0, 0), (1, 1), (2, 3), (3, 3)]
REV2 = [(0, 0), (1, 1), (1, 2), (3, 3)]


@pytest.mark.parametrize("method", METHODS)
def test_hand_checked_example(method):
    assert symmetrize(FWD1, REV1, method, 4, 4) == EXPECTED1[method]


def test_grow_diag_follows_neighbours():
    assert symmetrize(FWD2, REV2, "intersection", 4, 4) == [(0, 0), (1, 1), (3, 3)]
    grown = [(0, 0), (1, 1), (1, 2), (2, 3), (3, 3)]
    for method in ("grow-diag", "grow-diag-final", "grow-diag-final-and"):
        assert symmetrize(FWD2, REV2, method, 4, 4) == grown


def test_grow_diag_uses_diagonals_but_not_far_links():
    # 2-2 is diagonal to 1-1 (grown); 0-3 is far from everything (only final adds it).
    fwd, rev = [(1, 1), (2, 2)], [(1, 1), (0, 3)]
    assert symmetrize(fwd, rev, "grow-diag", 3, 4) == [(1, 1), (2, 2)]
    assert symmetrize(fwd, rev, "grow-diag-final-and", 3, 4) == [(0, 3), (1, 1), (2, 2)]


def test_out_of_range_links_dropped_and_unknown_method():
    assert symmetrize([(0, 0), (5, 0)], [(0, 0), (0, 9)], "union", 2, 2) == [(0, 0)]
    with pytest.raises(ValueError, match="unknown symmetrization"):
        symmetrize([], [], "grow", 1, 1)


@pytest.mark.parametrize("method", ["intersection", "union", "grow-diag"])
def test_order_free_methods_ignore_direction(method):
    for fwd, rev in ((FWD1, REV1), (FWD2, REV2)):
        assert symmetrize(rev, fwd, method, 4, 4) == symmetrize(fwd, rev, method, 4, 4)
