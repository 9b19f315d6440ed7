from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.usage_call_view import UsageCallView


T = TypeVar("T", bound="UsageView")


@_attrs_define
class UsageView:
    """Tokens and cost of LLM calls.

    Attributes:
        completion_tokens (int):
        cost_usd (float): US dollars (0 when no price is configured).
        prompt_tokens (int):
        total_tokens (int):
        calls (list[UsageCallView] | Unset): Per step attempt and model (on the execution detail).
    """

    completion_tokens: int
    cost_usd: float
    prompt_tokens: int
    total_tokens: int
    calls: list[UsageCallView] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        completion_tokens = self.completion_tokens

        cost_usd = self.cost_usd

        prompt_tokens = self.prompt_tokens

        total_tokens = self.total_tokens

        calls: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.calls, Unset):
            calls = []
            for calls_item_data in self.calls:
                calls_item = calls_item_data.to_dict()
                calls.append(calls_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "completion_tokens": completion_tokens,
                "cost_usd": cost_usd,
                "prompt_tokens": prompt_tokens,
                "total_tokens": total_tokens,
            }
        )
        if calls is not UNSET:
            field_dict["calls"] = calls

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.usage_call_view import UsageCallView  # noqa: PLC0415

        d = dict(src_dict)
        completion_tokens = d.pop("completion_tokens")

        cost_usd = d.pop("cost_usd")

        prompt_tokens = d.pop("prompt_tokens")

        total_tokens = d.pop("total_tokens")

        _calls = d.pop("calls", UNSET)
        calls: list[UsageCallView] | Unset = UNSET
        if _calls is not UNSET:
            calls = []
            for calls_item_data in _calls:
                calls_item = UsageCallView.from_dict(calls_item_data)

                calls.append(calls_item)

        usage_view = cls(
            completion_tokens=completion_tokens,
            cost_usd=cost_usd,
            prompt_tokens=prompt_tokens,
            total_tokens=total_tokens,
            calls=calls,
        )

        usage_view.additional_properties = d
        return usage_view

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
