from enum import StrEnum


class PluginKind(StrEnum):
    HTTP = "http"
    WASM = "wasm"

    def __str__(self) -> str:
        return str(self.value)
