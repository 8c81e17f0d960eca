"""JSON in and out of the server: decoders built once per request type, errors that name the field."""

from typing import Any, TypeVar

import msgspec

from tradovate_sim.service.endpoints import Endpoint
from tradovate_sim.service.errors import bad_request

T = TypeVar("T")


def field_message(message: str) -> str:
    """msgspec says 'Expected `int`, got `str` - at `$.accountId`'; lead with the field."""
    text, _, where = message.rpartition(" - at `")
    if not text:
        return f"body: {message}"
    field = where.rstrip("`").removeprefix("$.").removeprefix("$") or "body"
    return f"{field}: {text}"


def decode_as(raw: bytes, kind: type[T]) -> T:
    """Decode one body into `kind`, or raise a 400 naming the field."""
    try:
        return msgspec.json.decode(raw or b"{}", type=kind)
    except msgspec.ValidationError as error:
        raise bad_request(field_message(str(error))) from None
    except msgspec.DecodeError as error:
        raise bad_request(f"body: malformed JSON ({error})") from None


class Codec:
    """Encoder and per-request-type decoders, built once per app."""

    def __init__(self, table: dict[str, Endpoint]) -> None:
        self.encoder = msgspec.json.Encoder()
        self.decoders: dict[type, msgspec.json.Decoder[Any]] = {
            e.request: msgspec.json.Decoder(e.request) for e in table.values() if e.request is not None
        }

    def decode(self, request_type: type, body: bytes) -> Any:
        if not body.strip():
            raise bad_request("body: a JSON object is required")
        try:
            return self.decoders[request_type].decode(body)
        except msgspec.ValidationError as error:
            raise bad_request(field_message(str(error))) from None
        except msgspec.DecodeError as error:
            raise bad_request(f"body: malformed JSON ({error})") from None

    def encode(self, payload: object) -> bytes:
        return self.encoder.encode(payload)
