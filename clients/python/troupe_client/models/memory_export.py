from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.memory_view import MemoryView


T = TypeVar("T", bound="MemoryExport")


@_attrs_define
class MemoryExport:
    """Every memory of a user, decrypted.

    Attributes:
        exported_at (datetime.datetime):
        memories (list[MemoryView]):
        user_id (UUID):
    """

    exported_at: datetime.datetime
    memories: list[MemoryView]
    user_id: UUID
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        exported_at = self.exported_at.isoformat()

        memories = []
        for memories_item_data in self.memories:
            memories_item = memories_item_data.to_dict()
            memories.append(memories_item)

        user_id = str(self.user_id)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "exported_at": exported_at,
                "memories": memories,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.memory_view import MemoryView  # noqa: PLC0415

        d = dict(src_dict)
        exported_at = datetime.datetime.fromisoformat(d.pop("exported_at"))

        memories = []
        _memories = d.pop("memories")
        for memories_item_data in _memories:
            memories_item = MemoryView.from_dict(memories_item_data)

            memories.append(memories_item)

        user_id = UUID(d.pop("user_id"))

        memory_export = cls(
            exported_at=exported_at,
            memories=memories,
            user_id=user_id,
        )

        memory_export.additional_properties = d
        return memory_export

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
