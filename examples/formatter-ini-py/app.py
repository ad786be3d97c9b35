"""An INI formatter for wasmcode, written in Python.

A component of the `wasmcode:plugin/formatter-plugin` world, built with componentize-py:

    componentize-py -d ../../wit -w formatter-plugin componentize app -o formatter_ini_py.wasm

It formats `.ini`, `.cfg` and `.conf` files the way most INI styles agree on: `[section]`
headers without inner spaces and with one blank line before them, `key = value` with single
spaces around the first `=` or `:`, comments kept as they are, trailing whitespace and runs of
blank lines removed, and one final newline. A line that is none of these is a syntax error, and
the host then leaves the file as it was written.
"""

import re
from typing import List

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import formatter as api

SECTION = re.compile(r"^\[\s*([^\]]*?)\s*\]\s*([;#].*)?$")
ENTRY = re.compile(r"^([^=:\s][^=:]*?)\s*([=:])\s*(.*)$")


class Formatter(exports.Formatter):
    def extensions(self) -> List[str]:
        return ["ini", "cfg", "conf"]

    def format(self, path: str, content: str) -> str:
        return format_ini(path, content)


def format_ini(path: str, content: str) -> str:
    out: List[str] = []
    for number, line in enumerate(content.splitlines(), start=1):
        text = line.strip()
        if not text:
            if out and out[-1] != "":
                out.append("")
            continue
        if text[0] in ";#":
            out.append(text)
            continue
        section = SECTION.match(text)
        if section:
            if out and out[-1] != "" and not _is_comment(out[-1]):
                out.append("")
            comment = f" {section.group(2)}" if section.group(2) else ""
            out.append(f"[{section.group(1)}]{comment}")
            continue
        if line[:1].isspace() and out and not _is_comment(out[-1]) and out[-1] != "":
            # An indented line continues the previous value.
            out.append("    " + text)
            continue
        entry = ENTRY.match(text)
        if entry:
            key, separator, value = entry.groups()
            out.append(f"{key} {separator} {value}" if value else f"{key} {separator}")
            continue
        raise Err(api.FormatError_Syntax(f"{path}:{number}: `{text[:60]}` is not a section, a key with a value, or a comment"))
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _is_comment(line: str) -> bool:
    return line[:1] in (";", "#")
