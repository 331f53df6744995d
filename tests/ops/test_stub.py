"""python/fastcnn/_C.pyi, the type stub of the native module, names exactly what
fastcnn._C exports (functions, InferencePlan and its members, and the kernel
tester's private _kernel_table and _test_* bindings), with the argument names and
defaults pybind11 reports, so the stub cannot silently go stale."""

import ast
import re
from pathlib import Path

import pytest

import fastcnn
import fastcnn._C as C

STUB = Path(fastcnn.__file__).with_name("_C.pyi")


def _public(names):
    return {n for n in names if not n.startswith("_")}


def _stub_tree():
    assert STUB.is_file(), f"{STUB} is missing (it must ship beside fastcnn/__init__.py)"
    return ast.parse(STUB.read_text(), filename=str(STUB))


def _stub_defs(body):
    """{name: node} of the functions and classes a stub body defines (private aliases left out)."""
    return {
        n.name: n
        for n in body
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_")
    }


def _stub_class(name):
    return _stub_defs(_stub_tree().body)[name]


def _is_kernel_tester(name):
    """The kernel tester's private bindings (csrc/bindings_kernel_test.cpp), which the stub names too."""
    return name == "_kernel_table" or name.startswith("_test_")


def _kernel_tester_defs():
    return {
        n.name: n for n in _stub_tree().body if isinstance(n, ast.FunctionDef) and _is_kernel_tester(n.name)
    }


def test_stub_names_match_the_module():
    in_stub = set(_stub_defs(_stub_tree().body))
    in_module = _public(dir(C))
    assert in_module - in_stub == set(), f"in fastcnn._C but not in _C.pyi: {sorted(in_module - in_stub)}"
    assert in_stub - in_module == set(), f"in _C.pyi but not in fastcnn._C: {sorted(in_stub - in_module)}"


def test_stub_names_the_kernel_tester_bindings():
    in_stub = set(_kernel_tester_defs())
    in_module = {n for n in dir(C) if _is_kernel_tester(n)}
    assert in_module - in_stub == set(), f"in fastcnn._C but not in _C.pyi: {sorted(in_module - in_stub)}"
    assert in_stub - in_module == set(), f"in _C.pyi but not in fastcnn._C: {sorted(in_stub - in_module)}"


def test_stub_class_members_match_the_module():
    cls = _stub_class("InferencePlan")
    in_stub = set(_stub_defs(cls.body)) | {"__init__"}
    in_module = _public(dir(C.InferencePlan)) | {"__init__"}
    assert in_stub == in_module, f"stub only: {in_stub - in_module}, module only: {in_module - in_stub}"


def _split_top_level(s):
    """Split a pybind11 parameter list at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(s):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(s[start:i].strip())
            start = i + 1
    if s[start:].strip():
        parts.append(s[start:].strip())
    return parts


def _runtime_params(fn, name):
    """[(name, default or None)] from pybind11's signature line, or None if it has none."""
    first = (fn.__doc__ or "").lstrip().splitlines()[0] if fn.__doc__ else ""
    m = re.match(rf"{re.escape(name)}\((.*)\) -> ", first)
    if not m:
        return None
    params = []
    for part in _split_top_level(m.group(1)):
        pname, _, rest = part.partition(":")
        default = rest.split(" = ", 1)[1].strip() if " = " in rest else None
        params.append((pname.strip(), default))
    return params


def _stub_params(node):
    a = node.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    return [(p.arg, d) for p, d in zip(positional, defaults)], len(a.posonlyargs)


def _callables():
    tree = _stub_tree()
    for name, node in _stub_defs(tree.body).items():
        if isinstance(node, ast.FunctionDef):
            yield name, getattr(C, name), node
    for name, node in _kernel_tester_defs().items():
        if hasattr(C, name):  # else test_stub_names_the_kernel_tester_bindings fails
            yield name, getattr(C, name), node
    for name, node in _stub_defs(_stub_class("InferencePlan").body).items():
        if isinstance(node, ast.FunctionDef) and not any(
            isinstance(d, ast.Name) and d.id == "property" for d in node.decorator_list
        ):
            yield f"InferencePlan.{name}", getattr(C.InferencePlan, name), node
    init = next(n for n in _stub_class("InferencePlan").body if getattr(n, "name", "") == "__init__")
    yield "InferencePlan.__init__", C.InferencePlan.__init__, init


@pytest.mark.parametrize(
    "qualname,fn,node", list(_callables()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_stub_signature_matches_pybind11(qualname, fn, node):
    runtime = _runtime_params(fn, qualname.rsplit(".", 1)[-1])
    if runtime is None:
        pytest.skip(f"no pybind11 signature line for {qualname}")
    stub, n_posonly = _stub_params(node)
    assert len(stub) == len(runtime), f"{qualname}: stub {stub} vs module {runtime}"
    for i, ((s_name, s_default), (r_name, r_default)) in enumerate(zip(stub, runtime)):
        if re.fullmatch(r"arg\d+", r_name):
            # pybind11 has no name for it: the stub must make it positional-only
            assert i < n_posonly, f"{qualname}: {s_name} must be positional-only (before '/')"
        else:
            assert s_name == r_name, f"{qualname}: parameter {i} is {r_name!r}, stub says {s_name!r}"
        if r_default is not None:
            assert s_default is not None, f"{qualname}: {r_name} has a default ({r_default})"
            assert ast.literal_eval(s_default) == ast.literal_eval(r_default), (
                f"{qualname}: {r_name} defaults to {r_default}, stub says {s_default}"
            )
        else:
            assert s_default is None, f"{qualname}: {r_name} has no default, stub says {s_default}"
