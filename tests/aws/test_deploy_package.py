"""`tayori package`: reproducible zip, limits, and an import from a clean virtualenv.

Offline and fast: the only requirement is a tiny pure-Python wheel built here and
served to pip with --no-index --find-links (pip still resolves it for the Lambda
platform tags).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tayori.cli import app as cli
from tayori.deploy.package import PackageError, PackageResult, build_package, check_limits

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


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
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "myapp").mkdir(parents=True)
    (root / "myapp" / "__init__.py").write_text("")
    (root / "myapp" / "tasks.py").write_text(
        "import tinydep\n\n"
        "def lambda_handler(event, context):\n"
        "    return {'batchItemFailures': [], 'greeting': tinydep.GREETING}\n"
    )
    (root / "myapp" / "__pycache__").mkdir()
    (root / "myapp" / "__pycache__" / "tasks.cpython-311.pyc").write_bytes(b"junk")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _tiny_wheel(wheels)
    (root / "requirements.txt").write_text("tinydep==1.0\n")
    return root


def _build(project: Path, out: Path, **kw: object) -> PackageResult:
    return build_package(
        project,
        out,
        requirements=project / "requirements.txt",
        python_version=PY,
        include_tayori=False,
        handler="myapp.tasks.lambda_handler",
        pip_args=["--no-index", "--find-links", str(project.parent / "wheels")],
        **kw,  # type: ignore[arg-type]
    )


def test_same_input_same_hash_and_clean_venv_imports_handler(project: Path, tmp_path: Path) -> None:
    first = _build(project, tmp_path / "a" / "lambda.zip")
    second = _build(project, tmp_path / "b" / "lambda.zip")
    assert first.sha256 == second.sha256
    assert first.zipped_bytes == Path(first.path).stat().st_size
    with zipfile.ZipFile(first.path) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "myapp/tasks.py" in names and "tinydep/__init__.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        assert not [n for n in names if n.startswith("tests/")]
        zf.extractall(tmp_path / "unpacked")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from myapp.tasks import lambda_handler;"
        "print(json.dumps(lambda_handler({'Records': []}, None)))"
    )
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", code, str(tmp_path / "unpacked")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"batchItemFailures": [], "greeting": "hello from tinydep"}


def test_tayori_itself_is_copied_unless_told_not_to(project: Path, tmp_path: Path) -> None:
    result = build_package(project, tmp_path / "z.zip", python_version=PY)
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
    assert {"tayori/__init__.py", "tayori/backends/aws/sqs.py", "myapp/tasks.py"} <= names


def test_limits_fail_clearly() -> None:
    big = PackageResult("x.zip", "0" * 64, 60 * 1024 * 1024, 100 * 1024 * 1024, 1, "x86_64", PY)
    with pytest.raises(PackageError, match=r"60\.0 MiB zipped, over the 50 MiB direct-upload"):
        check_limits(big)
    check_limits(big, allow_s3_upload=True)
    huge = PackageResult("x.zip", "0" * 64, 60 * 1024 * 1024, 300 * 1024 * 1024, 1, "x86_64", PY)
    with pytest.raises(PackageError, match=r"unzips to 300\.0 MiB, over Lambda.s 250 MiB"):
        check_limits(huge, allow_s3_upload=True)


def test_cli_package_json_and_errors(project: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli.zip"
    args = [
        "package", str(project), "-r", str(project / "requirements.txt"), "-o", str(out),
        "--python", PY, "--no-tayori", "--no-index",
        "--find-links", str(project.parent / "wheels"), "--json",
    ]  # fmt: skip
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()

    bad = runner.invoke(cli, ["package", str(project), "--arch", "sparc"])
    assert bad.exit_code == 2
    assert bad.stderr.count("\n") == 1 and "architecture" in bad.stderr

    (project / "bad.txt").write_text("no-such-package-xyz==1\n")
    failed = runner.invoke(
        cli,
        ["package", str(project), "-r", str(project / "bad.txt"), "-o", str(out), "--no-index"],
    )
    assert failed.exit_code == 1
    assert failed.stderr.startswith("tayori package: pip could not install")
