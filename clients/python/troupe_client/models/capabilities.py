from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="Capabilities")


@_attrs_define
class Capabilities:
    """Capabilities a plugin requests.

    Attributes:
        network (list[str] | Unset): Hosts a plugin may reach. ABI v1 gives WASM modules no network at all, so this is
            for
            `http` plugins: the entry's host must be listed.
    """

    network: list[str] | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        network: list[str] | Unset = UNSET
        if not isinstance(self.network, Unset):
            network = self.network

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if network is not UNSET:
            field_dict["network"] = network

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        network = cast(list[str], d.pop("network", UNSET))

        capabilities = cls(
            network=network,
        )

        return capabilities
