from enum import StrEnum


class RoleName(StrEnum):
    ADMIN = "admin"
    RESEARCHER = "researcher"
    USER = "user"

    def __str__(self) -> str:
        return str(self.value)
