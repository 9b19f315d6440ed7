from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.role_name import RoleName
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.budget import Budget
    from ..models.own_model_view import OwnModelView
    from ..models.profile_view_preferences import ProfileViewPreferences


T = TypeVar("T", bound="ProfileView")


@_attrs_define
class ProfileView:
    """The caller's own account, with what only they see.

    Attributes:
        created_at (datetime.datetime):
        disabled (bool):
        email (str):
        email_verified (bool): Whether the owner proved that mail to `email` reaches them (the mailed code).
        id (UUID):
        role (RoleName): A user's role.
        preferences (ProfileViewPreferences): The user's own settings for clients (a JSON object).
        budget (Budget | None | Unset):
        last_login_at (datetime.datetime | None | Unset):
        name (None | str | Unset):
        llm (None | OwnModelView | Unset):
        pending_email (None | str | Unset): The address being changed to; it replaces `email` once the code mailed to it
            is used.
    """

    created_at: datetime.datetime
    disabled: bool
    email: str
    email_verified: bool
    id: UUID
    role: RoleName
    preferences: ProfileViewPreferences
    budget: Budget | None | Unset = UNSET
    last_login_at: datetime.datetime | None | Unset = UNSET
    name: None | str | Unset = UNSET
    llm: None | OwnModelView | Unset = UNSET
    pending_email: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.budget import Budget  # noqa: PLC0415
        from ..models.own_model_view import OwnModelView  # noqa: PLC0415

        created_at = self.created_at.isoformat()

        disabled = self.disabled

        email = self.email

        email_verified = self.email_verified

        id = str(self.id)

        role = self.role.value

        preferences = self.preferences.to_dict()

        budget: dict[str, Any] | None | Unset
        if isinstance(self.budget, Unset):
            budget = UNSET
        elif isinstance(self.budget, Budget):
            budget = self.budget.to_dict()
        else:
            budget = self.budget

        last_login_at: None | str | Unset
        if isinstance(self.last_login_at, Unset):
            last_login_at = UNSET
        elif isinstance(self.last_login_at, datetime.datetime):
            last_login_at = self.last_login_at.isoformat()
        else:
            last_login_at = self.last_login_at

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        llm: dict[str, Any] | None | Unset
        if isinstance(self.llm, Unset):
            llm = UNSET
        elif isinstance(self.llm, OwnModelView):
            llm = self.llm.to_dict()
        else:
            llm = self.llm

        pending_email: None | str | Unset
        if isinstance(self.pending_email, Unset):
            pending_email = UNSET
        else:
            pending_email = self.pending_email

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "created_at": created_at,
                "disabled": disabled,
                "email": email,
                "email_verified": email_verified,
                "id": id,
                "role": role,
                "preferences": preferences,
            }
        )
        if budget is not UNSET:
            field_dict["budget"] = budget
        if last_login_at is not UNSET:
            field_dict["last_login_at"] = last_login_at
        if name is not UNSET:
            field_dict["name"] = name
        if llm is not UNSET:
            field_dict["llm"] = llm
        if pending_email is not UNSET:
            field_dict["pending_email"] = pending_email

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.budget import Budget  # noqa: PLC0415
        from ..models.own_model_view import OwnModelView  # noqa: PLC0415
        from ..models.profile_view_preferences import ProfileViewPreferences  # noqa: PLC0415

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        disabled = d.pop("disabled")

        email = d.pop("email")

        email_verified = d.pop("email_verified")

        id = UUID(d.pop("id"))

        role = RoleName(d.pop("role"))

        preferences = ProfileViewPreferences.from_dict(d.pop("preferences"))

        def _parse_budget(data: object) -> Budget | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                budget_type_1 = Budget.from_dict(data)

                return budget_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Budget | None | Unset, data)

        budget = _parse_budget(d.pop("budget", UNSET))

        def _parse_last_login_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_login_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_login_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_login_at = _parse_last_login_at(d.pop("last_login_at", UNSET))

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_llm(data: object) -> None | OwnModelView | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                llm_type_1 = OwnModelView.from_dict(data)

                return llm_type_1
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | OwnModelView | Unset, data)

        llm = _parse_llm(d.pop("llm", UNSET))

        def _parse_pending_email(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pending_email = _parse_pending_email(d.pop("pending_email", UNSET))

        profile_view = cls(
            created_at=created_at,
            disabled=disabled,
            email=email,
            email_verified=email_verified,
            id=id,
            role=role,
            preferences=preferences,
            budget=budget,
            last_login_at=last_login_at,
            name=name,
            llm=llm,
            pending_email=pending_email,
        )

        profile_view.additional_properties = d
        return profile_view

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
