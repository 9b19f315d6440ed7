from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AuditView")


@_attrs_define
class AuditView:
    """One entry of the audit log.

    Attributes:
        action (str): `login`, `login_failed`, `refresh_reuse`, `user_updated`, `api_key_created`, …
        at (datetime.datetime):
        details (Any): What the action concerned (any JSON).
        id (UUID):
        actor (None | Unset | UUID):
        ip (None | str | Unset):
        target (None | str | Unset):
    """

    action: str
    at: datetime.datetime
    details: Any
    id: UUID
    actor: None | Unset | UUID = UNSET
    ip: None | str | Unset = UNSET
    target: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        at = self.at.isoformat()

        details = self.details

        id = str(self.id)

        actor: None | str | Unset
        if isinstance(self.actor, Unset):
            actor = UNSET
        elif isinstance(self.actor, UUID):
            actor = str(self.actor)
        else:
            actor = self.actor

        ip: None | str | Unset
        if isinstance(self.ip, Unset):
            ip = UNSET
        else:
            ip = self.ip

        target: None | str | Unset
        if isinstance(self.target, Unset):
            target = UNSET
        else:
            target = self.target

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "action": action,
                "at": at,
                "details": details,
                "id": id,
            }
        )
        if actor is not UNSET:
            field_dict["actor"] = actor
        if ip is not UNSET:
            field_dict["ip"] = ip
        if target is not UNSET:
            field_dict["target"] = target

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        action = d.pop("action")

        at = datetime.datetime.fromisoformat(d.pop("at"))

        details = d.pop("details")

        id = UUID(d.pop("id"))

        def _parse_actor(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                actor_type_0 = UUID(data)

                return actor_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        actor = _parse_actor(d.pop("actor", UNSET))

        def _parse_ip(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ip = _parse_ip(d.pop("ip", UNSET))

        def _parse_target(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        target = _parse_target(d.pop("target", UNSET))

        audit_view = cls(
            action=action,
            at=at,
            details=details,
            id=id,
            actor=actor,
            ip=ip,
            target=target,
        )

        audit_view.additional_properties = d
        return audit_view

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
