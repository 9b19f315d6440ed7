from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="DeletionReport")


@_attrs_define
class DeletionReport:
    """What a deletion removed.

    Attributes:
        cancelled (int): Live executions cancelled first.
        executions (int): Executions (with their steps, attempts, events, logs, artifacts and usage).
        memories (int): Memories (sealed records and their vectors).
        research (int): Research rows: pending observations and consent changes.
    """

    cancelled: int
    executions: int
    memories: int
    research: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        cancelled = self.cancelled

        executions = self.executions

        memories = self.memories

        research = self.research

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cancelled": cancelled,
                "executions": executions,
                "memories": memories,
                "research": research,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        cancelled = d.pop("cancelled")

        executions = d.pop("executions")

        memories = d.pop("memories")

        research = d.pop("research")

        deletion_report = cls(
            cancelled=cancelled,
            executions=executions,
            memories=memories,
            research=research,
        )

        deletion_report.additional_properties = d
        return deletion_report

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
