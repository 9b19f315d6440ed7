from enum import StrEnum


class Track(StrEnum):
    CUSTOM = "custom"
    RESEARCH = "research"

    def __str__(self) -> str:
        return str(self.value)
