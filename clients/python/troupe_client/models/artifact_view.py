from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="ArtifactView")


@_attrs_define
class ArtifactView:
    """An artifact's metadata.

    Attributes:
        content_type (str):
        created_at (datetime.datetime):
        name (str):
        size (int):
        step (str):
        url (str): Where to download it.
    """

    content_type: str
    created_at: datetime.datetime
    name: str
    size: int
    step: str
    url: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        content_type = self.content_type

        created_at = self.created_at.isoformat()

        name = self.name

        size = self.size

        step = self.step

        url = self.url

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "content_type": content_type,
                "created_at": created_at,
                "name": name,
                "size": size,
                "step": step,
                "url": url,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        content_type = d.pop("content_type")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        name = d.pop("name")

        size = d.pop("size")

        step = d.pop("step")

        url = d.pop("url")

        artifact_view = cls(
            content_type=content_type,
            created_at=created_at,
            name=name,
            size=size,
            step=step,
            url=url,
        )

        artifact_view.additional_properties = d
        return artifact_view

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
