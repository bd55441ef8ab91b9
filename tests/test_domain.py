"""The drawer domain (onemap.domain) on hand-built scenarios: which plan governs, periods, the record.

Plans here are rectangles in lon/lat: each expectation is read off the picture, not computed by
the code under test.

    province P (0..10 x 0..10), city C (0..6 x 0..10), county K (0..3 x 0..5) in the city,
    a detailed unit U (4..5 x 1..2) of the city, two city special plans S1, S2 (the city's outline).
"""

from __future__ import annotations

import datetime as dt

import pytest
import shapely

from onemap.config.errors import Conflict, InvalidParameterValue
from onemap.domain.dates import When, parse_recorded, parse_when, today
from onemap.domain.governing import chain_at, governing_parts, specificity, upper_candidates
from onemap.domain.plans import Event, Period, Plan, plan_id_for, registry_at, validate_drawer

D = dt.date
START = D(2021, 1, 1)
TZ = dt.timezone(dt.timedelta(hours=8))


def plan(pid: str, level: str, type_: str = "master", box=(0, 0, 10, 10), subject: str | None = None,
         region: str = "990000", start: dt.date = START, end: dt.date | None = None,
         status: str = "filed") -> Plan:
    return Plan(id=pid, region=region, level=level, type=type_, version="1", title=pid, status=status,
                valid_from=start, valid_to=end, subject=subject, outline=shapely.box(*box))


P = plan("P", "province", region="990000")
C = plan("C", "city", box=(0, 0, 6, 10), region="990100")
K = plan("K", "county", box=(0, 0, 3, 5), region="990121")
U = plan("U", "city", "detailed", box=(4, 1, 5, 2), subject="990102DY01", region="990100")
S1 = plan("S1", "city", "special", box=(0, 0, 6, 10), subject="LSWH", region="990100")
S2 = plan("S2", "city", "special", box=(0, 0, 6, 10), subject="ZHFZ", region="990100")


def parts(plans):
    return {p.plan_id: (p.whole, round(p.area.area, 9)) for p in governing_parts(plans)}


# ---- which plan governs ---------------------------------------------------------------------------
def test_the_lowest_level_governs_and_each_plan_keeps_what_is_left():
    got = parts([P, C, K])
    # K governs its 3x5, C its 6x10 minus K's, P the 4x10 east of the city
    assert got == {"K": (True, 15.0), "C": (False, 45.0), "P": (False, 40.0)}


def test_a_plan_entirely_under_lower_plans_governs_nowhere():
    whole_city = plan("C2", "city", box=(0, 0, 10, 10), region="990100")
    assert parts([P, whole_city]) == {"C2": (True, 100.0)}


def test_where_the_lower_plan_holds_no_such_layer_the_next_level_up_governs():
    # the caller passes only the plans holding the layer: without K, C governs the county too
    assert parts([P, C]) == {"C": (True, 60.0), "P": (False, 40.0)}


def test_at_one_level_the_detailed_unit_and_the_special_plans_govern_before_the_master():
    assert parts([C, U]) == {"U": (True, 1.0), "C": (False, 59.0)}
    assert parts([C, S1]) == {"S1": (True, 60.0)}


def test_special_plans_of_one_level_and_rank_govern_together():
    assert parts([C, S1, S2]) == {"S1": (True, 60.0), "S2": (True, 60.0)}


def test_shared_borders_leave_no_dust():
    # a county whose outline shares the city's edge exactly: nothing of the city's outline is left
    # along it, and nothing of the county is cut
    left = plan("L", "county", box=(0, 0, 6, 5), region="990121")
    right = plan("R", "county", box=(0, 5, 6, 10), region="990122")
    assert parts([C, left, right]) == {"L": (True, 30.0), "R": (True, 30.0)}


def test_the_chain_at_a_point_is_most_specific_first():
    assert [p.id for p in chain_at(shapely.Point(1, 1), [P, C, K])] == ["K", "C", "P"]
    assert [p.id for p in chain_at(shapely.Point(8, 1), [P, C, K])] == ["P"]
    assert chain_at(shapely.Point(20, 20), [P, C, K]) == []
    assert specificity(U) > specificity(C) > specificity(P)


def test_upper_plans_are_the_master_plans_above():
    assert {p.id for p in upper_candidates(K, [P, C, K, S1, U])} == {"P", "C"}
    # a special or detailed plan also answers to the master plan of its own level
    assert {p.id for p in upper_candidates(U, [P, C, K, S1, U])} == {"P", "C"}
    assert {p.id for p in upper_candidates(P, [P, C, K])} == set()
    other_province = plan("Q", "province", region="980000")
    assert upper_candidates(C, [other_province]) == []


# ---- periods and the record --------------------------------------------------------------------------
def test_periods_decide_in_force_with_exclusive_ends():
    p = plan("X", "county", start=D(2022, 1, 1))
    p.periods = (Period(D(2022, 1, 1), D(2024, 1, 1)), Period(D(2025, 1, 1)))
    assert p.in_force(When.at(D(2023, 12, 31)))
    assert not p.in_force(When.at(D(2024, 1, 1)))
    assert not p.in_force(When.at(D(2024, 12, 31)))
    assert p.in_force(When.at(D(2025, 1, 1)))
    assert p.in_force(When(D(2024, 6, 1), D(2025, 6, 1)))
    assert not p.in_force(When(D(2024, 1, 1), D(2024, 12, 31)))


def _events():
    at = lambda d, h=9: dt.datetime.combine(d, dt.time(h), tzinfo=TZ)
    return [
        Event("A", at(D(2022, 1, 5)), "x", None, "submitted", None),
        Event("A", at(D(2022, 2, 1)), "x", "approved", "filed", None, D(2022, 2, 1), None),
        Event("B", at(D(2024, 1, 5)), "x", None, "submitted", None),
        # B filed on 2024-06-01 with effect from 2023-01-01: a correction
        Event("B", at(D(2024, 6, 1)), "x", "approved", "filed", None, D(2023, 1, 1), None),
        Event("A", at(D(2024, 6, 1), 10), "x", "filed", "superseded", "by B", D(2022, 2, 1), D(2023, 1, 1), "B"),
    ]


def test_the_registry_as_recorded_then_and_a_retroactive_filing():
    rows = {"A": plan("A", "county", start=D(2023, 1, 1), status="superseded"),
            "B": plan("B", "county", start=D(2023, 1, 1))}
    rows["A"].valid_from, rows["A"].valid_to = D(2022, 2, 1), D(2023, 1, 1)
    events = _events()
    day = When.at(D(2023, 6, 1))
    now = registry_at(rows, events, None)
    assert {pid for pid, p in now.items() if p.in_force(day)} == {"B"}
    before = registry_at(rows, events, dt.datetime(2024, 5, 31, tzinfo=TZ))
    # as recorded before the filing: A was in force on 2023-06-01 and B was only submitted
    assert {pid for pid, p in before.items() if p.in_force(day)} == {"A"}
    assert before["B"].status == "submitted" and before["A"].status == "filed"
    assert registry_at(rows, events, dt.datetime(2021, 1, 1, tzinfo=TZ)) == {}
    correction = events[3]
    assert correction.is_correction() and correction.effective == D(2023, 1, 1)
    assert not events[1].is_correction()


# ---- drawers and parameters ----------------------------------------------------------------------
def test_drawers_have_subjects_for_special_and_detailed_plans():
    assert plan_id_for("990100", "city", "special", "2024", "LSWH") == "990100-city-special-LSWH-2024"
    assert plan_id_for("990100", "city", "master", "2024") == "990100-city-master-2024"
    validate_drawer("990100", "city", "special", "2024", "LSWH", {"LSWH": 1})
    validate_drawer("990100", "city", "detailed", "2024", "990102DY01")
    with pytest.raises(InvalidParameterValue, match="subject"):
        validate_drawer("990100", "city", "special", "2024")
    with pytest.raises(InvalidParameterValue, match="not a special-plan category"):
        validate_drawer("990100", "city", "special", "2024", "NOPE", {"LSWH": 1})
    with pytest.raises(InvalidParameterValue, match="no subject"):
        validate_drawer("990100", "city", "master", "2024", "LSWH")
    with pytest.raises(InvalidParameterValue):
        validate_drawer("990100", "city", "detailed", "2024", "a b")
    assert S1.drawer != S2.drawer and C.drawer.subject is None


@pytest.mark.parametrize("text", ["2023-06-01/2023-01-01", "2023-13-01", "..", "a/b/c"])
def test_bad_datetime_is_a_400(text):
    with pytest.raises(InvalidParameterValue):
        parse_when(text)


def test_recorded_parameter():
    assert parse_recorded(None) is None
    end_of_day = parse_recorded("2024-01-01")
    assert end_of_day is not None and end_of_day.date() == D(2024, 1, 1) and end_of_day.hour == 23
    assert parse_recorded("2024-01-01T00:00:00Z") == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    # today, the local day of the registry's time zone (not the machine's): as the registry stands
    assert parse_recorded(today("Asia/Shanghai").isoformat()) is None
    for bad in ("2999-01-01", "2024-01-01/2024-02-01", "yesterday"):
        with pytest.raises(InvalidParameterValue):
            parse_recorded(bad)


def test_transitions_are_checked():
    from onemap.domain.plans import check_transition

    with pytest.raises(Conflict):
        check_transition(plan("X", "county"), "approved")
    check_transition(plan("X", "county", status="submitted"), "checked")
