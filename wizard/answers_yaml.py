"""The strict YAML reader of answers files: no anchors or aliases, no duplicate keys, bounded
depth and size; libyaml's C scanner when PyYAML has it. Every problem names the path or line."""

from __future__ import annotations

from .errors import BadInput, FieldError
from .schema import join as _join
from .text import printable

MAX_DEPTH = 16
"""Deepest nesting an answers file needs is 5 (runner.tolerations[0].key); 16 is generous."""
MAX_NODES = 50000


class _YamlProblem(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _base_loader() -> type:
    """SafeLoader's parts with libyaml's scanner and parser (C) when PyYAML has them: the events
    come from C, the nodes are still composed here (so the checks below see every node), then
    constructed safely. Without libyaml: the pure-Python SafeLoader."""
    import yaml

    try:
        from yaml._yaml import CParser
    except ImportError:
        return yaml.SafeLoader
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class CEventsSafeLoader(Composer, CParser, SafeConstructor, Resolver):  # Composer first: Python nodes
        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)

    return CEventsSafeLoader


_LOADER: type | None = None


def _loader_class() -> type:
    global _LOADER
    if _LOADER is None:
        _LOADER = _make_loader_class()
    return _LOADER


def _make_loader_class() -> type:
    from yaml.events import AliasEvent
    from yaml.nodes import MappingNode, ScalarNode

    class AnswersLoader(_base_loader()):  # type: ignore[misc]
        """SafeLoader without anchors and aliases (no alias bombs), without duplicate keys
        (a second ``token:`` must not hide the first), with bounded depth and size."""

        def __init__(self, stream: str):
            super().__init__(stream)
            self._path: list[str] = []
            self._nodes = 0

        def _where(self) -> str:
            out = ""
            for part in self._path:
                out = f"{out}{part}" if part.startswith("[") else _join(out, part)
            return out or "(top level)"

        def compose_node(self, parent, index):  # noqa: ANN001, ANN201
            ev = self.peek_event()
            if isinstance(index, ScalarNode):
                part = printable(str(index.value), 60)
            elif isinstance(index, int):
                part = f"[{index}]"
            else:
                part = None
            if part is not None:
                self._path.append(part)
            if isinstance(ev, AliasEvent) or getattr(ev, "anchor", None):
                line = ev.start_mark.line + 1 if ev.start_mark else 0
                raise _YamlProblem(self._where(), f"uses a YAML anchor or alias (&name / *name) at line {line}; "
                                                  "answers files do not allow them: write the value out")
            self._nodes += 1
            if self._nodes > MAX_NODES:
                raise _YamlProblem(self._where(), f"the file has more than {MAX_NODES} values; "
                                                  "is this an answers file?")
            if len(self._path) > MAX_DEPTH:
                raise _YamlProblem(self._where(), f"is nested more than {MAX_DEPTH} levels deep; "
                                                  "an answers file needs at most 5")
            try:
                return super().compose_node(parent, index)
            finally:
                if part is not None:
                    self._path.pop()

        def compose_mapping_node(self, anchor):  # noqa: ANN001, ANN201
            node = super().compose_mapping_node(anchor)
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        here = self._where()
                        path = _join("" if here == "(top level)" else here, printable(str(key.value), 60))
                        raise _YamlProblem(path, f"appears twice (lines {seen[key.value]} and {line}); "
                                                 "keep only one")
                    seen[key.value] = line
                elif isinstance(key, MappingNode) or not isinstance(key, ScalarNode):
                    raise _YamlProblem(self._where(), f"has a key that is not a plain name at line "
                                                      f"{key.start_mark.line + 1}")
            return node

    return AnswersLoader


def loads(text: str, *, source: str = "answers") -> object:
    """Parse answers YAML text with :func:`_loader_class`; BadInput naming the field or line."""
    import yaml

    bom = text.find("\ufeff", 1 if text.startswith("\ufeff") else 0)
    if bom >= 0:  # libyaml drops it silently, PyYAML keeps it in the key: two readings of one file
        line = text.count("\n", 0, bom) + 1
        raise BadInput([FieldError("(yaml)", f"line {line}: a byte order mark (U+FEFF, invisible) inside the "
                                             "file; remove it (only the very start of a file may have one)")],
                       source)
    loader = None
    try:
        loader = _loader_class()(text)  # the reader already rejects some characters
        return loader.get_single_data()
    except _YamlProblem as exc:
        raise BadInput([FieldError(exc.path, exc.message)], source) from None
    except RecursionError:
        raise BadInput([FieldError("(yaml)", f"is nested too deeply; an answers file needs at most "
                                             f"{MAX_DEPTH} levels")], source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = printable(str(getattr(exc, "problem", None) or exc), 200)
        raise BadInput([FieldError("(yaml)", f"not valid YAML{where}: {problem}")], source) from None
    finally:
        if loader is not None:
            loader.dispose()
