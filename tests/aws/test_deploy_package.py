"""`tayori package`: a real tayori app with tayori and its dependencies built for the Lambda
platform, only the app's files, reproducible, checked to import in a clean Python 3.12.

(The zip is run under the real awslambdaric in test_lambda_runtime.py.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import zipfile
from pathlib import Path

import pytest
from tests.fixtures.lambda_runtime import python312, write_shop
from typer.testing import CliRunner

from tayori.cli import app as cli
from tayori.deploy import appfiles
from tayori.deploy.package import PackageError, PackageResult, build_package, check_limits
from tayori.deploy.verify import ENTRY_HANDLER, plan_handler, verify_import
from tayori.errors import ConfigError, HandlerNotLoadable

PY = "3.12"


def _tiny_wheel(directory: Path) -> Path:
    files = {
        "tinydep/__init__.py": b"GREETING = 'hello from tinydep'\n",
        "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
        "tinydep-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("tinydep-1.0.dist-info/RECORD,,")
    files["tinydep-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / "tinydep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A real tayori project with the clutter a working directory has."""
    root = write_shop(tmp_path / "project")
    (root / "templates").mkdir()
    (root / "templates" / "welcome.txt").write_text("Hello {{ name }}\n")
    (root / "worker.log").write_text("log line\n")
    (root / "events.jsonl").write_text('{"a": 1}\n' * 1000)
    (root / "template.json").write_text("{}")
    (root / "shop" / "debug.log").write_text("noise\n")
    (root / "shop" / "__pycache__").mkdir()
    (root / "shop" / "__pycache__" / "tasks.cpython-312.pyc").write_bytes(b"junk")
    (root / ".tayori").mkdir()
    (root / ".tayori" / "queue.db").write_bytes(b"sqlite")
    return root


def _tops(names: list[str]) -> set[str]:
    return {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}


def test_real_app_with_tayori_is_reproducible_and_holds_only_what_it_needs(
    shop: Path,
) -> None:
    (shop / "requirements.txt").write_text("boto3\n")  # the runtime has it: left out
    kw = {
        "handler": "shop.tasks:app",
        "include": ["templates"],
        "requirements": shop / "requirements.txt",
        "verify_python": python312(),
    }
    first = build_package(shop, shop / "dist" / "lambda.zip", **kw)  # type: ignore[arg-type]
    second = build_package(shop, shop / "dist" / "again.zip", **kw)  # type: ignore[arg-type]
    assert first.sha256 == second.sha256  # and the first zip was not packaged into the second
    assert first.sha256 == hashlib.sha256(Path(first.path).read_bytes()).hexdigest()
    assert first.handler == ENTRY_HANDLER and first.import_seconds is not None
    with zipfile.ZipFile(first.path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        entry = zf.read("tayori_handler.py").decode()
    assert names == sorted(names)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} <= {0o100644, 0o100755}
    assert "from shop.tasks import app" in entry
    assert {"shop/__init__.py", "shop/tasks.py", "templates/welcome.txt"} <= set(names)
    assert {"tayori/__init__.py", "tayori/backends/aws/sqs.py", "tayori/app.py"} <= set(names)
    assert not [n for n in names if n.endswith((".pyo", ".log", ".zip"))]
    # bytecode for every module, compiled here (the source tree's junk .pyc is not it)
    assert first.bytecode
    sources = {n for n in names if n.endswith(".py")}
    compiled = {n for n in names if n.endswith(".pyc")}
    assert compiled == {_cached(n) for n in sources}
    with zipfile.ZipFile(first.path) as zf:
        pyc = zf.read("shop/__pycache__/tasks.cpython-312.pyc")
    assert pyc[:4] == _magic_312() and int.from_bytes(pyc[4:8], "little") == 0b01  # unchecked
    assert pyc != b"junk"
    tops = _tops(names)
    assert not tops & {"worker.log", "events.jsonl", "template.json", ".tayori", "dist", "bin"}
    # tayori's runtime dependencies, for the Lambda platform; boto3 is the runtime's
    assert {"aws_lambda_powertools", "pydantic", "pydantic_core", "pydantic_settings"} <= tops
    assert {"jinja2", "jmespath"} <= tops
    assert not tops & {"boto3", "botocore", "s3transfer", "typer", "rich"}
    assert [n for n in names if n.startswith("pydantic_core/_pydantic_core.cpython-312-x86_64")]
    # boto3 and what only it needs are the runtime's; jmespath stays (Powertools needs it)
    left = {d.split("==")[0].lower() for d in first.left_to_runtime}
    assert left == {"boto3", "botocore", "s3transfer", "python-dateutil", "six", "urllib3"}
    assert any(d.lower().startswith("jmespath==") for d in first.dependencies)


def _cached(source: str) -> str:
    folder, _, name = source.rpartition("/")
    return f"{folder + '/' if folder else ''}__pycache__/{name[:-3]}.cpython-312.pyc"


def _magic_312() -> bytes:
    script = "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())"
    out = subprocess.run([python312(), "-c", script], capture_output=True, text=True, check=True)
    return bytes.fromhex(out.stdout)


def test_the_zips_bytecode_is_what_lambda_imports(shop: Path, tmp_path: Path) -> None:
    """Unchecked bytecode: a read-only /var/task never recompiles. Changing a source after
    the build changes nothing, which shows the import ran from the bytecode; without it
    (``bytecode=False``) the same change is what runs."""
    for bytecode in (True, False):
        zip_path = build_package(
            shop, tmp_path / f"{bytecode}.zip", handler="shop.tasks:app",
            verify_python=python312(), bytecode=bytecode,
        )  # fmt: skip
        root = tmp_path / f"unpacked-{bytecode}"
        with zipfile.ZipFile(zip_path.path) as zf:
            zf.extractall(root)
            assert zip_path.bytecode is bytecode
            assert any(n.endswith(".pyc") for n in zf.namelist()) is bytecode
        entry = root / "tayori_handler.py"
        entry.write_text("raise RuntimeError('imported from source')\n" + entry.read_text())
        if bytecode:
            assert verify_import(root, ENTRY_HANDLER, python312()) > 0
        else:
            with pytest.raises(HandlerNotLoadable, match="imported from source"):
                verify_import(root, ENTRY_HANDLER, python312())
        if not bytecode:
            assert not list(root.rglob("*.pyc"))  # the check wrote none, as /var/task cannot


def test_arm64_and_a_pinned_boto3(shop: Path) -> None:
    result = build_package(
        shop,
        shop / "dist" / "arm.zip",
        handler="shop.tasks:app",
        architecture="arm64",
        python_version="3.13",
        include_boto3=True,
        verify=False,  # an arm64 package cannot be imported on this x86_64 machine
    )
    with zipfile.ZipFile(result.path) as zf:
        names = zf.namelist()
    assert [n for n in names if n.startswith("pydantic_core/_pydantic_core.cpython-313-aarch64")]
    assert {"boto3", "botocore", "s3transfer"} <= _tops(names)
    assert result.bytecode is any(n.endswith(".pyc") for n in names)  # if python3.13 is here
    assert result.import_seconds is None and result.left_to_runtime == []
    assert result.unzipped_bytes < 250 * 1024 * 1024


def test_in_git_only_tracked_files_go_in(shop: Path) -> None:
    run = lambda *a: subprocess.run(["git", "-C", str(shop), *a], check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (shop / ".gitignore").write_text("secrets.py\n")
    (shop / "shop" / "secrets.py").write_text("KEY = 'x'\n")
    (shop / "shop" / "draft.py").write_text("")
    run("add", "shop/__init__.py", "shop/tasks.py", ".gitignore")
    files, untracked = appfiles.select(shop, ["shop"], exclude=shop / "dist" / "x.zip")
    assert files == ["shop/__init__.py", "shop/tasks.py"]
    assert untracked == ["shop/draft.py"]  # reported; the ignored secrets.py is not even named


def test_handler_forms(tmp_path: Path) -> None:
    assert plan_handler("shop.tasks:app").lambda_handler == ENTRY_HANDLER
    assert plan_handler("shop.tasks.lambda_handler").lambda_handler == "shop.tasks.lambda_handler"
    assert plan_handler("shop.tasks.lambda_handler").top_level == "shop"
    for bad in ("lambda_handler", "shop:", "shop.tasks:app.lambda_handler", "sys.x", "1a.b"):
        with pytest.raises(HandlerNotLoadable, match=r"malformed|built-in"):
            plan_handler(bad)
    # the bootstrap's own rule, in a clean 3.12: an App's method path cannot load
    (tmp_path / "root" / "shop").mkdir(parents=True)
    (tmp_path / "root" / "shop" / "__init__.py").write_text("")
    (tmp_path / "root" / "shop" / "tasks.py").write_text(
        "class App:\n    def lambda_handler(self, e, c): return {}\n\napp = App()\n"
        "def lambda_handler(e, c): return {}\nvalue = 3\n"
    )
    root, py = tmp_path / "root", python312()
    assert verify_import(root, "shop.tasks.lambda_handler", py) >= 0
    with pytest.raises(HandlerNotLoadable, match=r"use --handler shop\.tasks:app$"):
        verify_import(root, "shop.tasks.app.lambda_handler", py)
    bad_path = "shop.tasks.app.lambda_handler"  # refused before anything is built
    with pytest.raises(HandlerNotLoadable, match=r"'shop\.tasks' is a module, not a package"):
        build_package(root, tmp_path / "x.zip", handler=bad_path, verify=False)
    with pytest.raises(HandlerNotLoadable, match=r"Handler 'nope' missing on module"):
        verify_import(root, "shop.tasks.nope", py)
    with pytest.raises(HandlerNotLoadable, match=r"not callable"):
        verify_import(root, "shop.tasks.value", py)


def test_limits_fail_clearly() -> None:
    big = PackageResult("x.zip", "0" * 64, 60 * 1024 * 1024, 100 * 1024 * 1024, 1, "x86_64", PY)
    with pytest.raises(PackageError, match=r"60\.0 MiB zipped, over the 50 MiB direct-upload"):
        check_limits(big)
    check_limits(big, allow_s3_upload=True)
    huge = PackageResult("x.zip", "0" * 64, 60 * 1024 * 1024, 300 * 1024 * 1024, 1, "x86_64", PY)
    with pytest.raises(PackageError, match=r"unzips to 300\.0 MiB, over Lambda.s 250 MiB"):
        check_limits(huge, allow_s3_upload=True)


def test_cli_package_offline_json_and_one_line_errors(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "myapp").mkdir(parents=True)
    (root / "myapp" / "__init__.py").write_text("")
    (root / "myapp" / "tasks.py").write_text(
        "import tinydep\n\ndef lambda_handler(event, context):\n    return {}\n"
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _tiny_wheel(wheels)
    (root / "requirements.txt").write_text("tinydep==1.0\n")
    runner = CliRunner()
    out = tmp_path / "cli.zip"
    base = ["package", str(root), "--handler", "myapp.tasks.lambda_handler", "-o", str(out)]
    offline = ["--no-tayori", "--no-index", "--find-links", str(wheels)]
    verify = ["--verify-python", python312()]
    result = runner.invoke(cli, [*base, "-r", str(root / "requirements.txt"), *offline, *verify,
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert data["dependencies"] == ["tinydep==1.0"] and data["handler"] == base[3]
    assert data["bytecode"] is True
    assert "tinydep/__pycache__/__init__.cpython-312.pyc" in zipfile.ZipFile(out).namelist()

    # a dependency missing from the requirements: refused by the import check
    missing = runner.invoke(cli, [*base, *offline, *verify])
    assert missing.exit_code == 2
    assert missing.stderr.count("\n") == 1 and "No module named 'tinydep'" in missing.stderr

    cases = [
        ([*base, "--arch", "sparc"], 2, "architecture"),
        ([*base, "--python", "3.9"], 2, "python version"),
        (["package", str(root), "--handler", "myapp"], 2, "malformed"),
        (["package", str(root), "--handler", "nope.tasks:app"], 2, "is not in"),
        ([*base, "--verify-python", "/no/such/python"], 1, "no working Python 3.12"),
    ]
    for args, code, text in cases:
        bad = runner.invoke(cli, args)
        assert bad.exit_code == code, (args, bad.output)
        assert bad.stderr.count("\n") == 1 and text in bad.stderr, bad.stderr

    (root / "bad.txt").write_text("no-such-package-xyz==1\n")
    failed = runner.invoke(cli, [*base, "-r", str(root / "bad.txt"), *offline, *verify])
    assert failed.exit_code == 1
    assert failed.stderr.startswith("tayori package: pip could not resolve")


def test_in_git_an_untracked_package_is_refused_with_the_fix(shop: Path) -> None:
    subprocess.run(["git", "-C", str(shop), "init", "-q"], check=True)
    with pytest.raises(ConfigError, match=r"git tracks no file under 'shop': git add it"):
        appfiles.select(shop, ["shop"], exclude=shop / "x.zip")
