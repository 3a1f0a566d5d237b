"""The device state machine: every transition, the refused ones included."""

from datetime import timedelta

import pytest

from chalicelib.core.clock import FixedClock
from chalicelib.core.errors import Conflict, Forbidden
from chalicelib.domain import devices as rules
from chalicelib.domain.devices import Device, DeviceInfo, DeviceStatus, Wipe

INFO = DeviceInfo(device_id="install-1", type="android", name="Pixel", os_version="14", app_version="3.2")
NOW = FixedClock().now()


def fresh() -> Device:
    return rules.register_login(None, INFO, "Ann Lee", "ann@x.example", "acme", "u1", NOW)


def test_a_first_login_registers_an_active_device() -> None:
    device = fresh()
    assert device.status is DeviceStatus.ACTIVE and device.epoch == 0 and device.last_activity == NOW
    assert rules.action_for(device) is None


def test_a_later_login_updates_the_device_and_keeps_its_epoch() -> None:
    newer = DeviceInfo(
        device_id="install-1", type="android", name="Pixel", os_version="15", app_version="3.3"
    )
    device = rules.register_login(fresh(), newer, "Ann", "a@x", "acme", "u1", NOW)
    assert device.info.os_version == "15" and device.epoch == 0


def test_disable_is_idempotent_and_starts_a_new_epoch_once() -> None:
    disabled = rules.disable(fresh())
    assert disabled.status is DeviceStatus.DISABLED and disabled.epoch == 1
    assert rules.disable(disabled) == disabled


def test_enable_keeps_the_new_epoch_so_old_tokens_stay_dead() -> None:
    enabled = rules.enable(rules.disable(fresh()))
    assert enabled.status is DeviceStatus.ACTIVE and enabled.epoch == 1
    assert rules.enable(enabled) == enabled


def test_a_disabled_device_cannot_sign_in() -> None:
    with pytest.raises(Forbidden) as caught:
        rules.register_login(rules.disable(fresh()), INFO, "Ann", "a@x", "acme", "u1", NOW)
    assert caught.value.code == "device_disabled"


def test_wipe_from_active_or_disabled_and_it_wins_over_disable() -> None:
    assert rules.request_wipe(fresh()).status is DeviceStatus.WIPE_PENDING
    pending = rules.request_wipe(rules.disable(fresh()))
    assert pending.status is DeviceStatus.WIPE_PENDING and pending.disabled
    assert rules.request_wipe(pending) == pending
    assert rules.action_for(pending) == "wipe"


def test_enable_with_a_wipe_pending_is_refused() -> None:
    with pytest.raises(Conflict) as caught:
        rules.enable(rules.request_wipe(rules.disable(fresh())))
    assert caught.value.code == "wipe_pending"


def test_a_device_that_must_wipe_cannot_sign_in() -> None:
    with pytest.raises(Forbidden) as caught:
        rules.register_login(rules.request_wipe(fresh()), INFO, "Ann", "a@x", "acme", "u1", NOW)
    assert caught.value.code == "device_wipe_required"


def test_the_apps_confirmation_makes_it_wiped_and_kills_tokens() -> None:
    wiped = rules.confirm_wiped(rules.request_wipe(fresh()))
    assert wiped.status is DeviceStatus.WIPED and wiped.wipe is Wipe.DONE and wiped.epoch == 1
    assert rules.confirm_wiped(wiped) == wiped
    for action in (rules.enable, rules.request_wipe):
        with pytest.raises(Conflict) as caught:
            action(wiped)
        assert caught.value.code == "device_wiped"


def test_a_wiped_device_registers_fresh_at_its_next_login() -> None:
    wiped = rules.confirm_wiped(rules.request_wipe(rules.disable(fresh())))
    again = rules.register_login(wiped, INFO, "Ann", "a@x", "acme", "u1", NOW)
    assert again.status is DeviceStatus.ACTIVE and not again.disabled and again.epoch == wiped.epoch + 1


def test_activity_is_written_at_most_once_a_minute() -> None:
    device = fresh()
    assert not rules.needs_activity_write(device, NOW + timedelta(seconds=59))
    assert rules.needs_activity_write(device, NOW + timedelta(seconds=60))
