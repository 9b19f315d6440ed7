from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="SessionView")


@_attrs_define
class SessionView:
    """One login of the caller.

    Attributes:
        created_at (datetime.datetime): When it logged in.
        current (bool): Whether this request's own access token belongs to it.
        id (UUID): Its id (end it with `DELETE /api/v1/auth/sessions/{id}`).
        last_used_at (datetime.datetime): When its tokens were last refreshed or issued.
        address (None | str | Unset): The client address it logged in from.
        device (None | str | Unset): The device's user agent when it logged in.
    """

    created_at: datetime.datetime
    current: bool
    id: UUID
    last_used_at: datetime.datetime
    address: None | str | Unset = UNSET
    device: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        created_at = self.created_at.isoformat()

        current = self.current

        id = str(self.id)

        last_used_at = self.last_used_at.isoformat()

        address: None | str | Unset
        if isinstance(self.address, Unset):
            address = UNSET
        else:
            address = self.address

        device: None | str | Unset
        if isinstance(self.device, Unset):
            device = UNSET
        else:
            device = self.device

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "current": current,
                "id": id,
                "last_used_at": last_used_at,
            }
        )
        if address is not UNSET:
            field_dict["address"] = address
        if device is not UNSET:
            field_dict["device"] = device

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        current = d.pop("current")

        id = UUID(d.pop("id"))

        last_used_at = datetime.datetime.fromisoformat(d.pop("last_used_at"))

        def _parse_address(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        address = _parse_address(d.pop("address", UNSET))

        def _parse_device(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        device = _parse_device(d.pop("device", UNSET))

        session_view = cls(
            created_at=created_at,
            current=current,
            id=id,
            last_used_at=last_used_at,
            address=address,
            device=device,
        )

        session_view.additional_properties = d
        return session_view

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
