from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="ExportView")


@_attrs_define
class ExportView:
    """An export of everything the caller owns.

    Attributes:
        archive_url (str): Where to download the archive once ready.
        created_at (datetime.datetime):
        expires_at (datetime.datetime): When it stops being downloadable.
        id (UUID):
        size (int): The archive's size in bytes, once ready.
        status (str): `preparing`, `ready` or `failed`.
        error (None | str | Unset): Why it failed.
    """

    archive_url: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    id: UUID
    size: int
    status: str
    error: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        archive_url = self.archive_url

        created_at = self.created_at.isoformat()

        expires_at = self.expires_at.isoformat()

        id = str(self.id)

        size = self.size

        status = self.status

        error: None | str | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        else:
            error = self.error

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "archive_url": archive_url,
                "created_at": created_at,
                "expires_at": expires_at,
                "id": id,
                "size": size,
                "status": status,
            }
        )
        if error is not UNSET:
            field_dict["error"] = error

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        archive_url = d.pop("archive_url")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        expires_at = datetime.datetime.fromisoformat(d.pop("expires_at"))

        id = UUID(d.pop("id"))

        size = d.pop("size")

        status = d.pop("status")

        def _parse_error(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        export_view = cls(
            archive_url=archive_url,
            created_at=created_at,
            expires_at=expires_at,
            id=id,
            size=size,
            status=status,
            error=error,
        )

        export_view.additional_properties = d
        return export_view

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
