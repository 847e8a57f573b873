"""FaultPlan validation, its JSON form, the command-line spec, and the injector's scope rules."""

from __future__ import annotations

from typing import Any, cast

import pytest

from crmsync.emulators.faults import FaultInjector, FaultPlan, FaultPlanError, parse_fault_spec


def test_the_default_plan_injects_nothing() -> None:
    assert not FaultPlan().active
    assert FaultPlan(latency_ms=5).active
    assert FaultPlan(storm_every_s=10, storm_seconds=1).active
    assert FaultPlan(reset_rate=0.01).active


def test_spec_with_every_key_builds_the_plan() -> None:
    plan = parse_fault_spec(
        "error=0.2, throttle=10%, timeout=0.05, hang=2, latency=20, jitter=5, reset=0.01,"
        "after_effect=0.5, statuses=500/503, storm=30:5, retry_after=2,"
        "paths=/api/profile-import|/api/events, seed=1"
    )
    assert plan == FaultPlan(
        error_rate=0.2,
        throttle_rate=0.1,
        timeout_rate=0.05,
        timeout_hang_s=2.0,
        latency_ms=20.0,
        latency_jitter_ms=5.0,
        reset_rate=0.01,
        after_effect_rate=0.5,
        error_statuses=(500, 503),
        storm_every_s=30.0,
        storm_seconds=5.0,
        retry_after_s=2,
        paths=("/api/profile-import", "/api/events"),
        seed=1,
    )


def test_spec_accepts_full_field_names_and_off() -> None:
    assert parse_fault_spec("error_rate=0.3,timeout_hang_s=1") == FaultPlan(error_rate=0.3, timeout_hang_s=1)
    assert parse_fault_spec("") == FaultPlan()
    assert parse_fault_spec(" off ") == FaultPlan()
    assert parse_fault_spec("none") == FaultPlan()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explode=0.1", "unknown fault spec key 'explode'"),
        ("error", "is not KEY=VALUE"),
        ("error=", "is not KEY=VALUE"),
        ("error=lots", "error must be a number"),
        ("error=1.5", "error_rate must be between 0 and 1, got 1.5"),
        ("throttle=120%", "throttle_rate must be between 0 and 1"),
        ("error=0.6,throttle=0.6", "must not exceed 1"),
        ("error=0.1,error_rate=0.2", "sets error_rate twice"),
        ("storm=30", "storm must be EVERY:SECONDS"),
        ("storm=5:5", "0 < storm_seconds < storm_every_s"),
        ("statuses=500/404", "5xx statuses"),
        ("statuses=500/x", "statuses must be an integer"),
        ("seed=1.5", "seed must be an integer"),
        ("latency=-1", "latency_ms must not be negative"),
        ("hang=0", "timeout_hang_s must be positive"),
        ("paths=api", "must be prefixes starting with '/'"),
        ("paths=/__emulator/faults", "admin paths"),
        ("retry_after=-1", "retry_after_s must be between 0 and 3600"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultPlanError, match=message):
        parse_fault_spec(spec)


def test_json_form_round_trips() -> None:
    plan = FaultPlan(
        error_rate=0.25, error_statuses=(502,), paths=("/api/",), storm_every_s=2, storm_seconds=1
    )
    data = plan.to_dict()
    assert data["error_statuses"] == [502]
    assert data["paths"] == ["/api/"]
    assert FaultPlan.from_mapping(data) == plan


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": 0.1}, r"unknown fault plan field\(s\) \['error'\]"),
        ({"error_rate": "0.1"}, "error_rate must be a finite number"),
        ({"error_rate": True}, "error_rate must be a finite number"),
        ({"error_rate": float("nan")}, "error_rate must be a finite number"),
        ({"error_rate": -0.1}, "error_rate must be between 0 and 1"),
        ({"error_statuses": 503}, "error_statuses must be a list"),
        ({"error_statuses": []}, "non-empty"),
        ({"error_statuses": [503.0]}, "5xx statuses"),
        ({"retry_after_s": 1.5}, "retry_after_s must be an integer"),
        ({"seed": "x"}, "seed must be an integer"),
        ({"paths": "/api"}, "paths must be a list"),
        ({"storm_seconds": 1}, "storm_seconds needs storm_every_s"),
        ({"storm_every_s": 1, "storm_seconds": 0}, "0 < storm_seconds < storm_every_s"),
    ],
)
def test_bad_json_plans_are_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultPlanError, match=message):
        FaultPlan.from_mapping(body)


def test_json_nulls_are_allowed_where_the_field_is_optional() -> None:
    assert FaultPlan.from_mapping({"storm_every_s": None, "seed": None}) == FaultPlan()


def test_constructor_validates_too() -> None:
    with pytest.raises(FaultPlanError, match="reset_rate must be between 0 and 1"):
        FaultPlan(reset_rate=2)


def test_scope_rules() -> None:
    ct_like = FaultInjector(api_prefixes=("/",), opt_in_prefixes=("/oauth/",))
    plan = FaultPlan(error_rate=1)
    assert ct_like.in_scope(plan, "/demo/customers")
    assert not ct_like.in_scope(plan, "/oauth/token")
    assert not ct_like.in_scope(plan, "/__emulator/faults")
    assert not ct_like.in_scope(plan, "/__emulator")
    listed = FaultPlan(error_rate=1, paths=("/oauth/token",))
    assert ct_like.in_scope(listed, "/oauth/token")
    assert not ct_like.in_scope(listed, "/demo/customers")
    klaviyo_like = FaultInjector(api_prefixes=("/api/",))
    assert klaviyo_like.in_scope(plan, "/api/profiles")
    assert not klaviyo_like.in_scope(plan, "/metrics")


def test_set_plan_wants_a_plan() -> None:
    injector = FaultInjector()
    with pytest.raises(TypeError, match="expected a FaultPlan"):
        injector.set_plan(cast(Any, {"error_rate": 1}))
    injector.set_plan(FaultPlan(error_rate=0.5))
    assert injector.plan.error_rate == 0.5
    injector.clear()
    assert injector.plan == FaultPlan()
