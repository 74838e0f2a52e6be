#!/usr/bin/env python3
"""Reads the symbol graphs swiftc emits for one module (MODULE.symbols.json
and MODULE@OTHER.symbols.json, the module's extensions of other modules'
types) and either lists the public API or names the undocumented symbols.

  symbols.py listing DIR MODULE       one line per public declaration, sorted
  symbols.py undocumented DIR MODULE  the public symbols without a doc comment
                                      (exit 1 when there is one)

Scripts/api.sh writes the listing to API/MODULE.txt; Scripts/docs.sh runs the
undocumented check. What counts as our API, in both:
- symbols whose identifier swiftc marks as synthesized ("::SYNTHESIZED::":
  default implementations of another module's protocols, Equatable's `!=`, …)
  are left out: they are not declared here and their set moves with the
  standard library's and SwiftNIO's versions;
- symbols declared in another module (a `sourceOrigin` pointing outside this
  module without a location here) are left out for the same reason.
An implementation of a protocol requirement without a comment of its own is
documented by the requirement (DocC shows that text), so the check accepts it.
"""
import json
import os
import sys


# Conformances every type has under Swift 6 whatever it declares; left out
# so that the listing does not change with the compiler that wrote it.
IMPLICIT_CONFORMANCES = {"Copyable", "Escapable", "BitwiseCopyable", "SendableMetatype"}


def load(directory, module, conformances=None):
    """The symbols of MODULE from every graph of it in DIRECTORY, with the
    name of the module each graph extends (None for the module's own).
    With a dict for CONFORMANCES, fills it: identifier -> protocol names."""
    symbols = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".symbols.json"):
            continue
        stem = name[: -len(".symbols.json")]
        owner, _, extended = stem.partition("@")
        if owner != module:
            continue
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            graph = json.load(handle)
        for symbol in graph.get("symbols", []):
            identifier = symbol["identifier"]["precise"]
            if "::SYNTHESIZED::" in identifier:
                continue
            if symbol.get("accessLevel") not in ("public", "open"):
                continue
            if "location" not in symbol:
                continue  # declared elsewhere (inherited from another module)
            if symbol["kind"]["identifier"] == "swift.extension":
                continue  # an extension block: its members are listed
            symbols[identifier] = (symbol, extended or None)
        if conformances is None:
            continue
        names = {symbol["identifier"]["precise"]: symbol["names"]["title"] for symbol in graph.get("symbols", [])}
        for relation in graph.get("relationships", []):
            if relation["kind"] != "conformsTo":
                continue
            target = relation.get("targetFallback") or names.get(relation["target"]) or relation["target"]
            target = target.split(".")[-1]
            if target not in IMPLICIT_CONFORMANCES:
                conformances.setdefault(relation["source"], set()).add(target)
    return symbols


def declaration(symbol):
    fragments = symbol.get("declarationFragments") or []
    text = " ".join("".join(fragment["spelling"] for fragment in fragments).split())
    # The constraints of the extension it sits in (`where Element == X509`),
    # which the fragments leave out.
    constraints = (symbol.get("swiftExtension") or {}).get("constraints") or []
    if constraints:
        rendered = ", ".join(
            f"{c['lhs']} {'==' if c['kind'] == 'sameType' else ':'} {c['rhs']}" for c in constraints
        )
        text += f" (in extension where {rendered})"
    return text


def path(symbol, extended):
    components = symbol["pathComponents"]
    prefix = extended + "." if extended else ""
    return prefix + ".".join(components)


def listing(directory, module):
    lines = set()
    conformances = {}
    for identifier, (symbol, extended) in load(directory, module, conformances).items():
        kind = symbol["kind"]["identifier"].removeprefix("swift.")
        text = declaration(symbol)
        if conformances.get(identifier):
            text += ": " + ", ".join(sorted(conformances[identifier]))
        lines.add(f"{path(symbol, extended)} [{kind}]: {text}")
    for line in sorted(lines):
        print(line)
    return 0


def undocumented(directory, module):
    missing = []
    count = 0
    for symbol, extended in load(directory, module).values():
        count += 1
        comment = symbol.get("docComment")
        has_text = comment and any(line.get("text", "").strip() for line in comment.get("lines", []))
        if has_text or "sourceOrigin" in symbol:
            continue
        location = symbol["location"]
        file = location["uri"].removeprefix("file://")
        file = os.path.relpath(file) if file.startswith("/") else file
        line = location["position"]["line"] + 1
        missing.append(f"{file}:{line}: warning: public {path(symbol, extended)} has no doc comment")
    for entry in sorted(missing):
        print(entry)
    print(f"{module}: {count - len(missing)} of {count} public symbols documented", file=sys.stderr)
    return 1 if missing else 0


def main(arguments):
    if len(arguments) != 4 or arguments[1] not in ("listing", "undocumented"):
        print(__doc__, file=sys.stderr)
        return 2
    command, directory, module = arguments[1:]
    return listing(directory, module) if command == "listing" else undocumented(directory, module)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
