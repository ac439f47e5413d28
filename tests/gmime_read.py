"""Read .eml files with GMime 3 (Debian's gir1.2-gmime-3.0, through python3-gi): print JSON.

Run by the system's python3 (the one python3-gi belongs to), not the project's venv:
`python3 tests/gmime_read.py FILE…` prints one JSON object a file, in order, with what GMime
decodes in strict RFC mode (`GMime.RfcComplianceMode.STRICT` for encoded words, addresses and
parameters): Subject, From, To, List-Id, List-Unsubscribe(-Post), and each text part's charset
and decoded text. Used by tests/test_mime_parsers.py.
"""

import json
import sys
from typing import Any

import gi  # type: ignore[import-not-found]

gi.require_version("GMime", "3.0")
from gi.repository import GMime  # type: ignore[import-not-found]  # noqa: E402


def mailboxes(found: Any) -> list[dict[str, str]]:
    boxes = [found.get_address(i) for i in range(found.length())]
    return [{"name": box.get_name() or "", "address": box.get_addr()} for box in boxes]


def text_parts(message: Any) -> dict[str, dict[str, str]]:
    parts: dict[str, dict[str, str]] = {}

    def visit(parent: Any, part: Any, _data: Any) -> None:
        if isinstance(part, GMime.Part) and part.get_content_type().get_media_type() == "text":
            subtype = part.get_content_type().get_media_subtype()
            charset = part.get_content_type().get_parameter("charset")
            sink = GMime.StreamMem.new()
            part.get_content().write_to_stream(sink)  # the transfer encoding undone
            data = bytes(sink.get_byte_array())
            parts[subtype] = {"charset": charset, "text": data.decode(charset or "ascii")}

    message.foreach(visit, None)
    return parts


def read(path: str, options: Any) -> dict[str, Any]:
    stream = GMime.StreamFile.open(path, "rb")
    message = GMime.Parser.new_with_stream(stream).construct_message(options)
    headers = message.get_header_list()
    raw: dict[str, str | None] = {}
    for name in ("List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"):
        header = headers.get_header(name)
        raw[name] = None if header is None else header.get_value()
    return {
        "subject": message.get_subject(),
        "from": mailboxes(message.get_from()),
        "to": mailboxes(message.get_to()),
        "list_id": raw["List-Id"],
        "list_unsubscribe": raw["List-Unsubscribe"],
        "list_unsubscribe_post": raw["List-Unsubscribe-Post"],
        "parts": text_parts(message),
    }


def main() -> None:
    GMime.init()
    options = GMime.ParserOptions.new()
    strict = GMime.RfcComplianceMode.STRICT
    options.set_rfc2047_compliance_mode(strict)
    options.set_address_compliance_mode(strict)
    options.set_parameter_compliance_mode(strict)
    print(json.dumps([read(path, options) for path in sys.argv[1:]], ensure_ascii=False))


if __name__ == "__main__":
    main()
