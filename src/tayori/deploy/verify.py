"""The handler string Lambda gets, and the import check before a package is reported built.

Lambda's Python bootstrap (the same code as ``awslambdaric``) splits the handler at the
LAST dot and imports the left part as a module, so ``myapp.tasks.app.lambda_handler``
(an App object's method) can never load: it would import ``myapp.tasks.app``. Two forms
work: ``module.function`` with a module-level function, or ``module:app`` naming a
tayori App (or a Mailer), for which the package carries a generated entry module
``tayori_handler.py`` and Lambda gets ``tayori_handler.handler``.
"""

from __future__ import annotations

import json
import keyword
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from tayori.errors import HandlerNotLoadable, PackageError

ENTRY_MODULE = "tayori_handler"
ENTRY_HANDLER = f"{ENTRY_MODULE}.handler"
FORMS = (
    "use module.function (a module-level function, e.g. myapp.tasks.lambda_handler) or "
    "module:app (a tayori App or Mailer, e.g. myapp.tasks:app)"
)
# What the managed runtime has on its path besides the function's code (/var/runtime).
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
VERIFY_TIMEOUT = 120


@dataclass(frozen=True, slots=True)
class HandlerPlan:
    given: str
    lambda_handler: str  # the string Lambda's Handler setting gets
    top_level: str  # the app's top-level module (its package goes into the zip)
    entry_source: str | None  # text of tayori_handler.py, for the module:app form


def _dotted(name: str) -> bool:
    return bool(name) and all(
        p.isidentifier() and not keyword.iskeyword(p) for p in name.split(".")
    )


def plan_handler(handler: str) -> HandlerPlan:
    """Check the handler's form (not yet its import) and say what Lambda is given."""
    if ":" in handler:
        module, _, attr = handler.partition(":")
        if not _dotted(module) or not attr.isidentifier():
            raise HandlerNotLoadable(f"handler {handler!r} is malformed: {FORMS}")
        source = (
            f'"""Written by `tayori package`: Lambda loads {ENTRY_HANDLER} (module.function)."""\n'
            f"from {module} import {attr} as _target\n\n"
            "# a Mailer (or any wrapper) holds its App in .app\n"
            '_app = _target if hasattr(_target, "tasks") else _target.app\n'
            "handler = _app.lambda_handler\n"
        )
        return HandlerPlan(handler, ENTRY_HANDLER, module.split(".")[0], source)
    module, _, function = handler.rpartition(".")
    if not _dotted(module) or not function.isidentifier():
        raise HandlerNotLoadable(f"handler {handler!r} is malformed: {FORMS}")
    top = module.split(".")[0]
    if top in sys.builtin_module_names:
        raise HandlerNotLoadable(f"handler {handler!r}: {top!r} is a built-in module name")
    return HandlerPlan(handler, handler, top, None)


def check_module_path(source: Path, plan: HandlerPlan) -> None:
    """Without importing: refuse ``pkg.module.attr.function`` when ``pkg/module.py`` is a
    file (so also under ``--no-verify``, where nothing would be imported)."""
    if plan.entry_source is not None:
        return
    parts = plan.lambda_handler.rpartition(".")[0].split(".")
    for cut in range(1, len(parts)):
        if source.joinpath(*parts[:cut]).with_suffix(".py").is_file():
            parent, attr = ".".join(parts[:cut]), parts[cut]
            raise HandlerNotLoadable(
                f"handler {plan.given!r} cannot load on Lambda: {parent!r} is a module, not a "
                f"package, so {'.'.join(parts)!r} cannot be imported; for an App or Mailer use "
                f"--handler {parent}:{attr}"
            )


# Runs in the clean interpreter: the bootstrap's own loading steps, timed.
_CHILD = r"""
import importlib, json, sys, time
root, runtime, handler = sys.argv[1:4]
sys.path[:0] = [root, runtime]
start = time.perf_counter()
modname, _, fname = handler.rpartition(".")
def out(**kw):
    print(json.dumps(kw)); sys.exit(0)
try:
    m = importlib.import_module(modname.replace("/", "."))
except Exception as e:
    hint = ""
    parent, _, attr = modname.rpartition(".")
    if isinstance(e, ImportError) and parent:
        try:
            if hasattr(importlib.import_module(parent), attr):
                hint = f"; {attr!r} is an object in {parent!r}: use --handler {parent}:{attr}"
        except Exception:
            pass
    out(ok=False, error=f"Unable to import module {modname!r}: {type(e).__name__}: {e}{hint}")
fn = getattr(m, fname, None)
if fn is None:
    out(ok=False, error=f"Handler {fname!r} missing on module {modname!r}")
if not callable(fn):
    out(ok=False, error=f"{handler} is not callable")
out(ok=True, seconds=time.perf_counter() - start)
"""


def find_python(version: str, explicit: str | None = None) -> str:
    """An interpreter of the Lambda's Python version that actually runs."""
    candidates = [explicit] if explicit else [f"python{version}"]
    if not explicit and f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        candidates.insert(0, sys.executable)
    for cand in candidates:
        exe = shutil.which(cand) if cand else None
        if exe is None:
            continue
        proc = subprocess.run(
            [exe, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0 and proc.stdout.strip() == version:
            return exe
    where = explicit or f"python{version} on PATH"
    raise PackageError(
        f"cannot check the package imports: no working Python {version} ({where}); "
        "install it, pass --verify-python PATH, or --no-verify"
    )


def runtime_dir(workdir: Path) -> Path:
    """A directory standing in for /var/runtime: links to the boto3 that runs tayori here."""
    target = workdir / "runtime"
    target.mkdir(exist_ok=True)
    for name in RUNTIME_MODULES:
        spec = find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        path = origin.parent if origin.name == "__init__.py" else origin
        (target / path.name).symlink_to(path, target_is_directory=path.is_dir())
    return target


def verify_import(root: Path, handler: str, python: str) -> float:
    """Import ``handler`` as the bootstrap does, in ``python -I -S -B`` with only ``root``
    and the runtime's boto3 on its path (cwd = root, as in Lambda), writing no bytecode
    (``/var/task`` is read-only). Seconds it took."""
    with tempfile.TemporaryDirectory(prefix="tayori-verify-") as tmp:
        runtime = runtime_dir(Path(tmp))
        try:
            proc = subprocess.run(
                [python, "-I", "-S", "-B", "-c", _CHILD, str(root), str(runtime), handler],
                capture_output=True,
                text=True,
                cwd=root,
                timeout=VERIFY_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise PackageError(f"importing {handler} took over {VERIFY_TIMEOUT}s") from None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackageError(f"the package's import check crashed: {tail}")
    result = json.loads(lines[-1])
    if not result["ok"]:
        raise HandlerNotLoadable(
            f"handler {handler} does not load from the package: {result['error']}"
        )
    return float(result["seconds"])
