from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ApproversView")


@_attrs_define
class ApproversView:
    """Who may decide an approval.

    Attributes:
        owner (bool): Whether the execution's owner may.
        roles (list[str]): Roles whose members may.
        users (list[UUID]): Users who may.
    """

    owner: bool
    roles: list[str]
    users: list[UUID]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        owner = self.owner

        roles = self.roles

        users = []
        for users_item_data in self.users:
            users_item = str(users_item_data)
            users.append(users_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "owner": owner,
                "roles": roles,
                "users": users,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        owner = d.pop("owner")

        roles = cast(list[str], d.pop("roles"))

        users = []
        _users = d.pop("users")
        for users_item_data in _users:
            users_item = UUID(users_item_data)

            users.append(users_item)

        approvers_view = cls(
            owner=owner,
            roles=roles,
            users=users,
        )

        approvers_view.additional_properties = d
        return approvers_view

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
