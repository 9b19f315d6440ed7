from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="Limits")


@_attrs_define
class Limits:
    """Resource limits of one run.

    Attributes:
        fuel (int | Unset): WebAssembly fuel (about one unit per instruction); `wasm` only. Default: 100000000.
        memory_mb (int | Unset): Linear memory, in MiB; `wasm` only. Default: 16.
        timeout (str | Unset): Wall clock of one run (humantime, e.g. `2s`). Default: '5s'.
        max_output_bytes (int | Unset): The largest output accepted, in bytes. Default: 262144.
    """

    fuel: int | Unset = 100000000
    memory_mb: int | Unset = 16
    timeout: str | Unset = "5s"
    max_output_bytes: int | Unset = 262144

    def to_dict(self) -> dict[str, Any]:
        fuel = self.fuel

        memory_mb = self.memory_mb

        timeout = self.timeout

        max_output_bytes = self.max_output_bytes

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if fuel is not UNSET:
            field_dict["fuel"] = fuel
        if memory_mb is not UNSET:
            field_dict["memory_mb"] = memory_mb
        if timeout is not UNSET:
            field_dict["timeout"] = timeout
        if max_output_bytes is not UNSET:
            field_dict["max_output_bytes"] = max_output_bytes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        fuel = d.pop("fuel", UNSET)

        memory_mb = d.pop("memory_mb", UNSET)

        timeout = d.pop("timeout", UNSET)

        max_output_bytes = d.pop("max_output_bytes", UNSET)

        limits = cls(
            fuel=fuel,
            memory_mb=memory_mb,
            timeout=timeout,
            max_output_bytes=max_output_bytes,
        )

        return limits
