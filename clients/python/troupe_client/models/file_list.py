from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.file_view import FileView


T = TypeVar("T", bound="FileList")


@_attrs_define
class FileList:
    """The caller's files and what they take.

    Attributes:
        items (list[FileView]): Newest first.
        max_file_bytes (int): The largest file accepted, in bytes.
        quota_bytes (int): Bytes they may take in all.
        used_bytes (int): Bytes the caller's files take.
    """

    items: list[FileView]
    max_file_bytes: int
    quota_bytes: int
    used_bytes: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        items = []
        for items_item_data in self.items:
            items_item = items_item_data.to_dict()
            items.append(items_item)

        max_file_bytes = self.max_file_bytes

        quota_bytes = self.quota_bytes

        used_bytes = self.used_bytes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "items": items,
                "max_file_bytes": max_file_bytes,
                "quota_bytes": quota_bytes,
                "used_bytes": used_bytes,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.file_view import FileView  # noqa: PLC0415

        d = dict(src_dict)
        items = []
        _items = d.pop("items")
        for items_item_data in _items:
            items_item = FileView.from_dict(items_item_data)

            items.append(items_item)

        max_file_bytes = d.pop("max_file_bytes")

        quota_bytes = d.pop("quota_bytes")

        used_bytes = d.pop("used_bytes")

        file_list = cls(
            items=items,
            max_file_bytes=max_file_bytes,
            quota_bytes=quota_bytes,
            used_bytes=used_bytes,
        )

        file_list.additional_properties = d
        return file_list

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
