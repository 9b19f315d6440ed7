from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="FlagView")


@_attrs_define
class FlagView:
    """A feature flag as stored.

    Attributes:
        allow (list[UUID]):
        enabled (bool):
        name (str):
        rollout_percent (int):
        updated_at (datetime.datetime):
    """

    allow: list[UUID]
    enabled: bool
    name: str
    rollout_percent: int
    updated_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        allow = []
        for allow_item_data in self.allow:
            allow_item = str(allow_item_data)
            allow.append(allow_item)

        enabled = self.enabled

        name = self.name

        rollout_percent = self.rollout_percent

        updated_at = self.updated_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "allow": allow,
                "enabled": enabled,
                "name": name,
                "rollout_percent": rollout_percent,
                "updated_at": updated_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        allow = []
        _allow = d.pop("allow")
        for allow_item_data in _allow:
            allow_item = UUID(allow_item_data)

            allow.append(allow_item)

        enabled = d.pop("enabled")

        name = d.pop("name")

        rollout_percent = d.pop("rollout_percent")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        flag_view = cls(
            allow=allow,
            enabled=enabled,
            name=name,
            rollout_percent=rollout_percent,
            updated_at=updated_at,
        )

        flag_view.additional_properties = d
        return flag_view

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
