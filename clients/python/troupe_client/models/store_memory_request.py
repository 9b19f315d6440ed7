from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.store_memory_request_metadata_type_0 import StoreMemoryRequestMetadataType0


T = TypeVar("T", bound="StoreMemoryRequest")


@_attrs_define
class StoreMemoryRequest:
    """A memory to store.

    Attributes:
        text (str): The text (at most 32,768 characters); encrypted at rest.
        kind (None | str | Unset): `note` by default; 1–64 of `a-z`, `0-9`, `_`, `-`.
        metadata (None | StoreMemoryRequestMetadataType0 | Unset): A JSON object stored in clear beside it (do not put
            secrets there).
        source (None | str | Unset): Where it came from (a URL, a document, an execution…).
    """

    text: str
    kind: None | str | Unset = UNSET
    metadata: None | StoreMemoryRequestMetadataType0 | Unset = UNSET
    source: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.store_memory_request_metadata_type_0 import StoreMemoryRequestMetadataType0  # noqa: PLC0415

        text = self.text

        kind: None | str | Unset
        if isinstance(self.kind, Unset):
            kind = UNSET
        else:
            kind = self.kind

        metadata: dict[str, Any] | None | Unset
        if isinstance(self.metadata, Unset):
            metadata = UNSET
        elif isinstance(self.metadata, StoreMemoryRequestMetadataType0):
            metadata = self.metadata.to_dict()
        else:
            metadata = self.metadata

        source: None | str | Unset
        if isinstance(self.source, Unset):
            source = UNSET
        else:
            source = self.source

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "text": text,
            }
        )
        if kind is not UNSET:
            field_dict["kind"] = kind
        if metadata is not UNSET:
            field_dict["metadata"] = metadata
        if source is not UNSET:
            field_dict["source"] = source

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.store_memory_request_metadata_type_0 import StoreMemoryRequestMetadataType0  # noqa: PLC0415

        d = dict(src_dict)
        text = d.pop("text")

        def _parse_kind(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        kind = _parse_kind(d.pop("kind", UNSET))

        def _parse_metadata(data: object) -> None | StoreMemoryRequestMetadataType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                metadata_type_0 = StoreMemoryRequestMetadataType0.from_dict(data)

                return metadata_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | StoreMemoryRequestMetadataType0 | Unset, data)

        metadata = _parse_metadata(d.pop("metadata", UNSET))

        def _parse_source(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        source = _parse_source(d.pop("source", UNSET))

        store_memory_request = cls(
            text=text,
            kind=kind,
            metadata=metadata,
            source=source,
        )

        return store_memory_request
