from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="FlagBody")


@_attrs_define
class FlagBody:
    """A feature flag.

    Attributes:
        enabled (bool): The master switch.
        allow (list[UUID] | Unset): Users for whom it is on, whatever the rollout.
        rollout_percent (int | Unset): Percentage of the other users (0–100), stable per user.
    """

    enabled: bool
    allow: list[UUID] | Unset = UNSET
    rollout_percent: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        enabled = self.enabled

        allow: list[str] | Unset = UNSET
        if not isinstance(self.allow, Unset):
            allow = []
            for allow_item_data in self.allow:
                allow_item = str(allow_item_data)
                allow.append(allow_item)

        rollout_percent = self.rollout_percent

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "enabled": enabled,
            }
        )
        if allow is not UNSET:
            field_dict["allow"] = allow
        if rollout_percent is not UNSET:
            field_dict["rollout_percent"] = rollout_percent

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        enabled = d.pop("enabled")

        _allow = d.pop("allow", UNSET)
        allow: list[UUID] | Unset = UNSET
        if _allow is not UNSET:
            allow = []
            for allow_item_data in _allow:
                allow_item = UUID(allow_item_data)

                allow.append(allow_item)

        rollout_percent = d.pop("rollout_percent", UNSET)

        flag_body = cls(
            enabled=enabled,
            allow=allow,
            rollout_percent=rollout_percent,
        )

        return flag_body
