from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.node_view_status import NodeViewStatus


T = TypeVar("T", bound="NodeView")


@_attrs_define
class NodeView:
    """A node of the cluster.

    Attributes:
        executions (int): Unfinished executions whose lease it holds.
        heartbeat_at (datetime.datetime):
        id (str): Its id (`TROUPE_NODE_ID`).
        live (bool): Whether its heartbeat is within a lease period.
        started_at (datetime.datetime):
        status (NodeViewStatus): What it last reported: host, pid, live executions, agent health.
        this_node (bool): Whether it is the node that answered.
    """

    executions: int
    heartbeat_at: datetime.datetime
    id: str
    live: bool
    started_at: datetime.datetime
    status: NodeViewStatus
    this_node: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        executions = self.executions

        heartbeat_at = self.heartbeat_at.isoformat()

        id = self.id

        live = self.live

        started_at = self.started_at.isoformat()

        status = self.status.to_dict()

        this_node = self.this_node

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "executions": executions,
                "heartbeat_at": heartbeat_at,
                "id": id,
                "live": live,
                "started_at": started_at,
                "status": status,
                "this_node": this_node,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.node_view_status import NodeViewStatus  # noqa: PLC0415

        d = dict(src_dict)
        executions = d.pop("executions")

        heartbeat_at = datetime.datetime.fromisoformat(d.pop("heartbeat_at"))

        id = d.pop("id")

        live = d.pop("live")

        started_at = datetime.datetime.fromisoformat(d.pop("started_at"))

        status = NodeViewStatus.from_dict(d.pop("status"))

        this_node = d.pop("this_node")

        node_view = cls(
            executions=executions,
            heartbeat_at=heartbeat_at,
            id=id,
            live=live,
            started_at=started_at,
            status=status,
            this_node=this_node,
        )

        node_view.additional_properties = d
        return node_view

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
