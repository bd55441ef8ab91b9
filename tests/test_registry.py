"""The drawer registry (providers/registry.py): lifecycle rules, the trace, filing and supersession.

Every test works on a private copy of the demo store (``fresh_settings``), on both backends.
States are read back through a *new* store object, so a check sees what is in the database
and not what a cache remembers.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from onemap.config.errors import Conflict, InvalidParameterValue, NotFound
from onemap.providers.registry import Registry
from onemap.providers.store import open_store
from onemap.providers.store.base import Event, FeatureBatch, Plan

from .auth import admin_client
from .conftest import all_items, get_json, registry_notice_delivered

COUNTY = "990121-county-master-2022"
CITY_OLD = "990100-city-master-2021"
CITY_NEW = "990100-city-master-2023"
TZ = ZoneInfo("Asia/Shanghai")
# the lifecycle tests approve without a transmission check (the gate has tests of its own)
OVERRIDE = "test of the lifecycle: transmission gate overridden"


# ---- helpers ------------------------------------------------------------------------------------
@pytest.fixture()
def store(fresh_settings):
    s = open_store(fresh_settings.store_url)
    yield s
    s.close()


@pytest.fixture()
def reg(store, fresh_settings) -> Registry:
    return Registry(store, fresh_settings.timezone)


def snapshot(url: str) -> dict:
    """Every entry's registry fields and its whole trace, read through a new store object."""
    s = open_store(url)
    try:
        out = {}
        for pid, p in s.plans().items():
            events = [(e.by, e.from_status, e.to_status, e.reason, str(e.at), e.valid_from, e.valid_to)
                      for e in s.events(pid)]
            out[pid] = {"status": p.status, "valid_from": p.valid_from, "valid_to": p.valid_to,
                        "approval_no": p.approval_no, "approval_date": p.approval_date, "events": events}
        return out
    finally:
        s.close()


def add_new_version(store, version: str = "2024", status: str = "submitted") -> str:
    """A new version of the 东岭县 master plan: its czkfbj features copied from the 2022 version."""
    layer = store.catalogue.layer("czkfbj")
    names = [f.name for f in layer.fields]
    geoms, cols = store.geometries(layer, [COUNTY], columns=names)
    assert len(geoms) > 0, "the demo county plan has no czkfbj features"
    old = store.plan(COUNTY)
    pid = f"990121-county-master-{version}"
    at = dt.datetime(2024, 1, 5, 9, 30, tzinfo=TZ)
    plan = Plan(id=pid, region="990121", level="county", type="master", version=version,
                title=f"东岭县国土空间总体规划（{version}版）", status=status, upper_plan_id=CITY_NEW,
                submitted_by="东岭县自然资源和规划局", submitted_at=at, outline=old.outline)
    batch = FeatureBatch(layer_id="czkfbj", plan_id=pid, columns={n: list(cols[n]) for n in names},
                         geometry=geoms)
    store.write([plan], [batch], events=[Event(pid, at, "东岭县自然资源和规划局", None, status, "test package")])
    return pid


def to_approved(reg: Registry, pid: str) -> None:
    reg.mark_checked(pid, "质检员")
    reg.approve(pid, "审批员", "示市政函〔2024〕3号", dt.date(2024, 1, 20), override=OVERRIDE)


# ---- illegal transitions ---------------------------------------------------------------------------
def _withdrawn(reg, store):
    reg.withdraw(COUNTY, "管理员", "test: withdrawn", valid_to=dt.date(2024, 1, 1))
    return COUNTY


def _rejected(reg, store):
    pid = add_new_version(store)
    reg.reject(pid, "审批员", "test: incomplete")
    return pid


def _submitted(reg, store):
    return add_new_version(store)


def _checked(reg, store):
    pid = add_new_version(store)
    reg.mark_checked(pid, "质检员")
    return pid


def _approved(reg, store):
    pid = add_new_version(store)
    to_approved(reg, pid)
    return pid


ACTIONS = {
    "check": lambda r, pid: r.mark_checked(pid, "质检员"),
    "approve": lambda r, pid: r.approve(pid, "审批员", "示市政函〔2024〕9号", override=OVERRIDE),
    "file": lambda r, pid: r.file(pid, "管理员", dt.date(2024, 6, 1)),
    "withdraw": lambda r, pid: r.withdraw(pid, "管理员", "test reason"),
    "reject": lambda r, pid: r.reject(pid, "审批员", "test reason"),
}

ILLEGAL = [
    # (how to reach the state, action)
    (lambda r, s: COUNTY, "check"),
    (lambda r, s: COUNTY, "approve"),
    (lambda r, s: COUNTY, "file"),
    (lambda r, s: COUNTY, "reject"),
    (lambda r, s: CITY_OLD, "file"),
    (lambda r, s: CITY_OLD, "withdraw"),
    (lambda r, s: CITY_OLD, "check"),
    (_submitted, "approve"),
    (_submitted, "file"),
    (_submitted, "withdraw"),
    (_checked, "check"),
    (_checked, "file"),
    (_checked, "withdraw"),
    (_approved, "check"),
    (_approved, "reject"),
    (_approved, "withdraw"),
    (_withdrawn, "file"),
    (_withdrawn, "withdraw"),
    (_withdrawn, "check"),
    (_rejected, "check"),
    (_rejected, "approve"),
    (_rejected, "reject"),
]
ILLEGAL_IDS = ["filed-check", "filed-approve", "filed-file", "filed-reject", "superseded-file",
               "superseded-withdraw", "superseded-check", "submitted-approve", "submitted-file",
               "submitted-withdraw", "checked-check", "checked-file", "checked-withdraw",
               "approved-check", "approved-reject", "approved-withdraw", "withdrawn-file",
               "withdrawn-withdraw", "withdrawn-check", "rejected-check", "rejected-approve",
               "rejected-reject"]


@pytest.mark.parametrize("setup,action", ILLEGAL, ids=ILLEGAL_IDS)
def test_illegal_transition_is_conflict_and_changes_nothing(setup, action, store, reg, fresh_settings):
    pid = setup(reg, store)
    before = snapshot(fresh_settings.store_url)
    with pytest.raises(Conflict) as exc:
        ACTIONS[action](reg, pid)
    assert pid in exc.value.description and before[pid]["status"] in exc.value.description
    assert exc.value.status == 409
    assert snapshot(fresh_settings.store_url) == before
    assert store.plan(pid).status == before[pid]["status"]


def test_unknown_plan_is_not_found(reg, fresh_settings):
    before = snapshot(fresh_settings.store_url)
    for action in ACTIONS.values():
        with pytest.raises(NotFound):
            action(reg, "990121-county-master-1999")
    with pytest.raises(NotFound):
        reg.events("990121-county-master-1999")
    assert snapshot(fresh_settings.store_url) == before


def test_approve_needs_an_approval_number(store, reg, fresh_settings):
    pid = add_new_version(store)
    reg.mark_checked(pid, "质检员")
    before = snapshot(fresh_settings.store_url)
    for no in ("", None, "号" * 101):
        with pytest.raises(InvalidParameterValue) as exc:
            reg.approve(pid, "审批员", no)  # type: ignore[arg-type]
        assert "approval" in exc.value.description
    assert snapshot(fresh_settings.store_url) == before
    assert store.plan(pid).status == "checked"


def test_withdraw_and_reject_need_a_reason(store, reg, fresh_settings):
    pid = add_new_version(store)
    before = snapshot(fresh_settings.store_url)
    for reason in ("", None):
        with pytest.raises(InvalidParameterValue) as exc:
            reg.withdraw(COUNTY, "管理员", reason)  # type: ignore[arg-type]
        assert "reason" in exc.value.description
        with pytest.raises(InvalidParameterValue) as exc:
            reg.reject(pid, "审批员", reason)  # type: ignore[arg-type]
        assert "reason" in exc.value.description
    assert snapshot(fresh_settings.store_url) == before


def test_every_transition_needs_someone(store, reg, fresh_settings):
    pid = add_new_version(store)
    before = snapshot(fresh_settings.store_url)
    for by in ("", "   "):
        with pytest.raises(InvalidParameterValue):
            reg.mark_checked(pid, by)
        with pytest.raises(InvalidParameterValue):
            reg.withdraw(COUNTY, by, "a reason")
    assert snapshot(fresh_settings.store_url) == before


# ---- the full cycle -------------------------------------------------------------------------------
def test_full_cycle_files_and_supersedes(store, reg, fresh_settings):
    before = snapshot(fresh_settings.store_url)
    assert before[COUNTY]["status"] == "filed" and before[COUNTY]["valid_to"] is None
    pid = add_new_version(store)
    assert reg.get(pid).status == "submitted"
    assert reg.mark_checked(pid, "质检员", "all checks passed").status == "checked"
    p = reg.approve(pid, "审批员", "示市政函〔2024〕3号", dt.date(2024, 1, 20), override=OVERRIDE)
    assert (p.status, p.approval_no, p.approval_date) == ("approved", "示市政函〔2024〕3号", dt.date(2024, 1, 20))
    p = reg.file(pid, "管理员", dt.date(2024, 2, 1), "备案")
    assert (p.status, p.valid_from, p.valid_to) == ("filed", dt.date(2024, 2, 1), None)

    after = snapshot(fresh_settings.store_url)
    new, old = after[pid], after[COUNTY]
    assert (new["status"], new["valid_from"], new["valid_to"]) == ("filed", dt.date(2024, 2, 1), None)
    assert new["approval_no"] == "示市政函〔2024〕3号" and new["approval_date"] == dt.date(2024, 1, 20)
    assert old["status"] == "superseded"
    assert old["valid_to"] == dt.date(2024, 2, 1)
    assert old["valid_from"] == before[COUNTY]["valid_from"]
    assert old["approval_no"] == before[COUNTY]["approval_no"]

    # the trace: who, from, to, why, for both entries
    assert [(by, fr, to) for by, fr, to, *_ in new["events"]] == [
        ("东岭县自然资源和规划局", None, "submitted"), ("质检员", "submitted", "checked"),
        ("审批员", "checked", "approved"), ("管理员", "approved", "filed")]
    assert new["events"][1][3] == "all checks passed" and new["events"][3][3] == "备案"
    assert old["events"][:-1] == before[COUNTY]["events"]
    by, fr, to, why, *_ = old["events"][-1]
    assert (by, fr, to) == ("管理员", "filed", "superseded") and pid in why

    # the event objects carry an aware time, oldest first
    evs = reg.events(pid)
    assert all(isinstance(e.at, dt.datetime) and e.at.tzinfo is not None for e in evs)
    assert [e.at for e in evs] == sorted(e.at for e in evs)

    # nothing else moved: other drawers (other counties, the city, the province) are as they were
    for other, state in before.items():
        if other not in (pid, COUNTY):
            assert after[other] == state, other


def test_withdrawing_the_version_in_force_reinstates_the_one_it_superseded(store, reg, fresh_settings):
    before = snapshot(fresh_settings.store_url)
    pid = add_new_version(store)
    to_approved(reg, pid)
    reg.file(pid, "管理员", dt.date(2024, 2, 1))
    p = reg.withdraw(pid, "管理员", "上级批复撤销", valid_to=dt.date(2024, 8, 1))
    assert (p.status, p.valid_from, p.valid_to) == ("withdrawn", dt.date(2024, 2, 1), dt.date(2024, 8, 1))
    after = snapshot(fresh_settings.store_url)
    # the 2022 version is in force again from the withdrawal, its first period kept in its trace
    assert (after[COUNTY]["status"], after[COUNTY]["valid_from"], after[COUNTY]["valid_to"]) == \
        ("filed", dt.date(2024, 8, 1), None)
    assert after[pid]["events"][-1][:4] == ("管理员", "filed", "withdrawn", "上级批复撤销")
    by, fr, to, why, _, vf, vt = after[COUNTY]["events"][-1]
    assert (by, fr, to, vf, vt) == ("管理员", "superseded", "filed", dt.date(2024, 8, 1), None) and pid in why
    county = open_store(fresh_settings.store_url)
    try:
        periods = [(q.start, q.end) for q in county.plan(COUNTY).periods]
    finally:
        county.close()
    assert periods == [(before[COUNTY]["valid_from"], dt.date(2024, 2, 1)), (dt.date(2024, 8, 1), None)]
    # one version of the drawer in force on each day, before, during and after the revision
    days = [dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 7, 31), dt.date(2024, 8, 1), dt.date(2025, 1, 1)]
    assert {d: ids for d, ids in _in_force_days(store, days).items()} == {
        dt.date(2024, 1, 31): [COUNTY], dt.date(2024, 2, 1): [pid], dt.date(2024, 7, 31): [pid],
        dt.date(2024, 8, 1): [COUNTY], dt.date(2025, 1, 1): [COUNTY]}


def test_withdrawing_without_reinstating_leaves_the_drawer_empty(store, reg, fresh_settings):
    pid = add_new_version(store)
    to_approved(reg, pid)
    reg.file(pid, "管理员", dt.date(2024, 2, 1))
    reg.withdraw(pid, "管理员", "上级批复撤销", valid_to=dt.date(2024, 8, 1), reinstate=False)
    after = snapshot(fresh_settings.store_url)
    assert after[COUNTY]["status"] == "superseded" and after[COUNTY]["valid_to"] == dt.date(2024, 2, 1)
    assert _in_force_days(store, [dt.date(2025, 1, 1)])[dt.date(2025, 1, 1)] == []


def test_withdrawing_before_it_came_into_force_is_refused(store, reg, fresh_settings):
    before = snapshot(fresh_settings.store_url)
    with pytest.raises(InvalidParameterValue):
        reg.withdraw(COUNTY, "管理员", "reason", valid_to=dt.date(2020, 1, 1))
    assert snapshot(fresh_settings.store_url) == before


def test_rejecting_records_the_reason(store, reg, fresh_settings):
    pid = add_new_version(store)
    reg.mark_checked(pid, "质检员")
    p = reg.reject(pid, "审批员", "红线与上位规划不一致")
    assert p.status == "rejected" and p.valid_from is None
    ev = reg.events(pid)[-1]
    assert (ev.by, ev.from_status, ev.to_status, ev.reason) == ("审批员", "checked", "rejected", "红线与上位规划不一致")
    assert snapshot(fresh_settings.store_url)[COUNTY]["status"] == "filed"


def test_filing_before_the_filed_entry_is_refused_and_changes_nothing(store, reg, fresh_settings):
    pid = add_new_version(store)
    to_approved(reg, pid)
    before = snapshot(fresh_settings.store_url)
    current_from = before[COUNTY]["valid_from"]
    assert current_from == dt.date(2022, 5, 2)
    with pytest.raises(Conflict) as exc:
        reg.file(pid, "管理员", current_from - dt.timedelta(days=1))
    assert COUNTY in exc.value.description
    assert snapshot(fresh_settings.store_url) == before
    assert store.plan(pid).status == "approved" and store.plan(COUNTY).status == "filed"
    # and a correct filing still works afterwards
    reg.file(pid, "管理员", dt.date(2024, 2, 1))
    assert snapshot(fresh_settings.store_url)[COUNTY]["valid_to"] == dt.date(2024, 2, 1)


def _in_force_days(store, days: list[dt.date]) -> dict[dt.date, list[str]]:
    from onemap.providers.store.base import When

    layer = store.catalogue.layer("czkfbj")
    return {d: [p for p in store.plans_in_force(When.at(d), "990121", layer)] for d in days}


def test_filing_on_the_day_the_filed_entry_came_into_force_is_refused(store, reg, fresh_settings):
    """Filing from the same day would leave the 2022 version an empty interval [d, d): it would
    never have been in force, and every datetime query would lose it. One version per drawer
    per day: the filing must be refused like an earlier one."""
    pid = add_new_version(store)
    to_approved(reg, pid)
    before = snapshot(fresh_settings.store_url)
    with pytest.raises(Conflict):
        reg.file(pid, "管理员", before[COUNTY]["valid_from"])
    assert snapshot(fresh_settings.store_url) == before


def test_filing_into_a_withdrawn_entrys_interval_is_refused(store, reg, fresh_settings):
    """A drawer has at most one entry in force on any day (抽屉: one current version).

    After the 2022 version is withdrawn as of 2024-03-01, a new version filed from 2023-01-01
    would be in force together with the withdrawn one during 2023-01-01..2024-03-01, and the
    items of that period would show both versions' features.
    """
    reg.withdraw(COUNTY, "管理员", "规划依法撤销", valid_to=dt.date(2024, 3, 1))
    pid = add_new_version(store)
    to_approved(reg, pid)
    before = snapshot(fresh_settings.store_url)
    try:
        reg.file(pid, "管理员", dt.date(2023, 1, 1))
    except Conflict:
        assert snapshot(fresh_settings.store_url) == before
    days = [dt.date(2023, 1, 1), dt.date(2023, 6, 1), dt.date(2024, 2, 29)]
    overlap = {d: ids for d, ids in _in_force_days(store, days).items() if len(ids) > 1}
    assert not overlap, f"two versions of one drawer in force on the same day: {overlap}"
    # filing after the withdrawn entry ended is fine
    if store.plan(pid).status == "approved":
        reg.file(pid, "管理员", dt.date(2024, 3, 1))
        assert store.plan(COUNTY).status == "withdrawn" and store.plan(COUNTY).valid_to == dt.date(2024, 3, 1)


# ---- what the API serves after filing -------------------------------------------------------------------
def _county_czkfbj(client, extra: str = "") -> list[dict]:
    return all_items(client, f"/collections/czkfbj/items?region=990121&limit=100&skipGeometry=true{extra}")


def test_items_follow_the_filing(store, reg, fresh_settings):
    from onemap.server.app import create_app

    layer = store.catalogue.layer("czkfbj")
    _, cols = store.geometries(layer, [COUNTY], columns=["BSM"])
    bsms = sorted(cols["BSM"])
    pid = add_new_version(store)
    to_approved(reg, pid)
    reg.file(pid, "管理员", dt.date(2024, 2, 1))

    app = create_app(fresh_settings)
    try:
        client = admin_client(app)
        # today: the new version only, with the same features
        feats = _county_czkfbj(client)
        assert {f["properties"]["plan_id"] for f in feats} == {pid}
        assert sorted(f["properties"]["BSM"] for f in feats) == bsms
        assert {f["properties"]["plan_status"] for f in feats} == {"filed"}
        # before the new version came into force: the 2022 version, now shown as superseded
        for day in ("2023-06-01", "2024-01-31"):
            feats = _county_czkfbj(client, f"&datetime={day}")
            assert {f["properties"]["plan_id"] for f in feats} == {COUNTY}, day
            assert sorted(f["properties"]["BSM"] for f in feats) == bsms
            assert {f["properties"]["plan_valid_to"] for f in feats} == {"2024-02-01"}
        # the day it came into force belongs to the new version (valid_to is exclusive)
        feats = _county_czkfbj(client, "&datetime=2024-02-01")
        assert {f["properties"]["plan_id"] for f in feats} == {pid}
        # and the registry collection says the same
        doc = get_json(client, f"/collections/plans/items/{COUNTY}")
        assert doc["properties"]["status"] == "superseded" and doc["properties"]["valid_to"] == "2024-02-01"
    finally:
        app.extensions["onemap"].store.close()


# ---- one registry, many store objects ---------------------------------------------------------------------
def test_change_through_one_store_is_seen_by_another(store, reg, fresh_settings):
    from onemap.server.app import create_app

    other = open_store(fresh_settings.store_url)
    app = create_app(fresh_settings)
    try:
        client = admin_client(app)
        # warm every cache first
        assert other.plan(COUNTY).status == "filed"
        assert get_json(client, f"/collections/plans/items/{COUNTY}")["properties"]["status"] == "filed"
        assert {f["properties"]["plan_id"] for f in _county_czkfbj(client)} == {COUNTY}

        reg.withdraw(COUNTY, "管理员", "规划依法撤销", valid_to=dt.date(2024, 3, 1))
        # PostGIS: the others learn of it from the commit's notice (asynchronous, well under a millisecond)
        registry_notice_delivered(other)
        registry_notice_delivered(app.extensions["onemap"].store)

        p = other.plan(COUNTY)
        assert (p.status, p.valid_to) == ("withdrawn", dt.date(2024, 3, 1))
        assert [e.to_status for e in Registry(other).events(COUNTY)][-1] == "withdrawn"
        doc = get_json(client, f"/collections/plans/items/{COUNTY}")
        assert doc["properties"]["status"] == "withdrawn"
        assert _county_czkfbj(client) == []  # no longer in force today
        assert {f["properties"]["plan_id"] for f in _county_czkfbj(client, "&datetime=2023-01-01")} == {COUNTY}

        # and the other way round: a new entry written through the other store object
        pid = add_new_version(other)
        registry_notice_delivered(store)
        assert store.plan(pid) is not None and reg.get(pid).status == "submitted"
    finally:
        other.close()
        app.extensions["onemap"].store.close()
