from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.memory_filters import MemoryFilters


T = TypeVar("T", bound="SearchMemoriesRequest")


@_attrs_define
class SearchMemoriesRequest:
    """A search of the caller's memories by meaning.

    Attributes:
        query (str): What to look for.
        filters (MemoryFilters | None | Unset):
        k (int | None | Unset): How many hits at most (1–100, default 5).
    """

    query: str
    filters: MemoryFilters | None | Unset = UNSET
    k: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.memory_filters import MemoryFilters  # noqa: PLC0415

        query = self.query

        filters: dict[str, Any] | None | Unset
        if isinstance(self.filters, Unset):
            filters = UNSET
        elif isinstance(self.filters, MemoryFilters):
            filters = self.filters.to_dict()
        else:
            filters = self.filters

        k: int | None | Unset
        if isinstance(self.k, Unset):
            k = UNSET
        else:
            k = self.k

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "query": query,
            }
        )
        if filters is not UNSET:
            field_dict["filters"] = filters
        if k is not UNSET:
            field_dict["k"] = k

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.memory_filters import MemoryFilters  # noqa: PLC0415

        d = dict(src_dict)
        query = d.pop("query")

        def _parse_filters(data: object) -> MemoryFilters | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                filters_type_1 = MemoryFilters.from_dict(data)

                return filters_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(MemoryFilters | None | Unset, data)

        filters = _parse_filters(d.pop("filters", UNSET))

        def _parse_k(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        k = _parse_k(d.pop("k", UNSET))

        search_memories_request = cls(
            query=query,
            filters=filters,
            k=k,
        )

        return search_memories_request
