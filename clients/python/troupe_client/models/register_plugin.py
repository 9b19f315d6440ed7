from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.plugin_manifest import PluginManifest


T = TypeVar("T", bound="RegisterPlugin")


@_attrs_define
class RegisterPlugin:
    """A plugin to register.

    Attributes:
        manifest (PluginManifest): A plugin manifest, as written.
        module_base64 (None | str | Unset): The WebAssembly module, binary or text, base64-encoded (`wasm` plugins).
    """

    manifest: PluginManifest
    module_base64: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        manifest = self.manifest.to_dict()

        module_base64: None | str | Unset
        if isinstance(self.module_base64, Unset):
            module_base64 = UNSET
        else:
            module_base64 = self.module_base64

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "manifest": manifest,
            }
        )
        if module_base64 is not UNSET:
            field_dict["module_base64"] = module_base64

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.plugin_manifest import PluginManifest  # noqa: PLC0415

        d = dict(src_dict)
        manifest = PluginManifest.from_dict(d.pop("manifest"))

        def _parse_module_base64(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        module_base64 = _parse_module_base64(d.pop("module_base64", UNSET))

        register_plugin = cls(
            manifest=manifest,
            module_base64=module_base64,
        )

        return register_plugin
