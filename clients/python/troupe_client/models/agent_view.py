from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="AgentView")


@_attrs_define
class AgentView:
    """An agent kind.

    Attributes:
        crashes (int):
        in_flight (int):
        kind (str):
        live_actors (int):
        pool_size (int):
        restarts (int):
        status (str): `healthy`, `restarting` or `quarantined`.
        reason (None | str | Unset): Why the kind is quarantined.
    """

    crashes: int
    in_flight: int
    kind: str
    live_actors: int
    pool_size: int
    restarts: int
    status: str
    reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        crashes = self.crashes

        in_flight = self.in_flight

        kind = self.kind

        live_actors = self.live_actors

        pool_size = self.pool_size

        restarts = self.restarts

        status = self.status

        reason: None | str | Unset
        if isinstance(self.reason, Unset):
            reason = UNSET
        else:
            reason = self.reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "crashes": crashes,
                "in_flight": in_flight,
                "kind": kind,
                "live_actors": live_actors,
                "pool_size": pool_size,
                "restarts": restarts,
                "status": status,
            }
        )
        if reason is not UNSET:
            field_dict["reason"] = reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        crashes = d.pop("crashes")

        in_flight = d.pop("in_flight")

        kind = d.pop("kind")

        live_actors = d.pop("live_actors")

        pool_size = d.pop("pool_size")

        restarts = d.pop("restarts")

        status = d.pop("status")

        def _parse_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        reason = _parse_reason(d.pop("reason", UNSET))

        agent_view = cls(
            crashes=crashes,
            in_flight=in_flight,
            kind=kind,
            live_actors=live_actors,
            pool_size=pool_size,
            restarts=restarts,
            status=status,
            reason=reason,
        )

        agent_view.additional_properties = d
        return agent_view

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
