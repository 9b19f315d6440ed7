from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.own_model_patch import OwnModelPatch
    from ..models.profile_patch_preferences_type_0 import ProfilePatchPreferencesType0


T = TypeVar("T", bound="ProfilePatch")


@_attrs_define
class ProfilePatch:
    """Changes to the caller's own account; absent fields stay as they are.

    Attributes:
        email (None | str | Unset): A new email address: a code is mailed to it, and it replaces the current one once
            that code is used (`POST /auth/verify`). The current address is told.
        llm (None | OwnModelPatch | Unset):
        name (None | str | Unset): The display name (at most 200 characters), or `null` to clear it.
        preferences (None | ProfilePatchPreferencesType0 | Unset): The user's own settings for clients: a JSON object of
            at most 16 KiB, replaced whole.
    """

    email: None | str | Unset = UNSET
    llm: None | OwnModelPatch | Unset = UNSET
    name: None | str | Unset = UNSET
    preferences: None | ProfilePatchPreferencesType0 | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.own_model_patch import OwnModelPatch  # noqa: PLC0415
        from ..models.profile_patch_preferences_type_0 import ProfilePatchPreferencesType0  # noqa: PLC0415

        email: None | str | Unset
        if isinstance(self.email, Unset):
            email = UNSET
        else:
            email = self.email

        llm: dict[str, Any] | None | Unset
        if isinstance(self.llm, Unset):
            llm = UNSET
        elif isinstance(self.llm, OwnModelPatch):
            llm = self.llm.to_dict()
        else:
            llm = self.llm

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        preferences: dict[str, Any] | None | Unset
        if isinstance(self.preferences, Unset):
            preferences = UNSET
        elif isinstance(self.preferences, ProfilePatchPreferencesType0):
            preferences = self.preferences.to_dict()
        else:
            preferences = self.preferences

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if email is not UNSET:
            field_dict["email"] = email
        if llm is not UNSET:
            field_dict["llm"] = llm
        if name is not UNSET:
            field_dict["name"] = name
        if preferences is not UNSET:
            field_dict["preferences"] = preferences

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.own_model_patch import OwnModelPatch  # noqa: PLC0415
        from ..models.profile_patch_preferences_type_0 import ProfilePatchPreferencesType0  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_email(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        email = _parse_email(d.pop("email", UNSET))

        def _parse_llm(data: object) -> None | OwnModelPatch | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                llm_type_1 = OwnModelPatch.from_dict(data)

                return llm_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OwnModelPatch | Unset, data)

        llm = _parse_llm(d.pop("llm", UNSET))

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_preferences(data: object) -> None | ProfilePatchPreferencesType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                preferences_type_0 = ProfilePatchPreferencesType0.from_dict(data)

                return preferences_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ProfilePatchPreferencesType0 | Unset, data)

        preferences = _parse_preferences(d.pop("preferences", UNSET))

        profile_patch = cls(
            email=email,
            llm=llm,
            name=name,
            preferences=preferences,
        )

        return profile_patch
