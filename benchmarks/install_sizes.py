"""Install size and time of ``pip install pocketmt`` (lean) and ``pocketmt[export]``, each into a fresh
venv under /tmp, and what the lean install runs with no torch installed; optionally the README's first
command, exactly as written, in a fresh clone.

    python benchmarks/install_sizes.py [--source /work/main] [--readme] [-o benchmarks/results/install.json]

Both install a fresh clone of ``--source``'s committed tree (so nothing uncommitted is measured and no
build folder is left in the source), as ``pip install SRC`` and ``pip install 'SRC[export]'``. Each
install is timed with /usr/bin/time (wall seconds, peak memory); its site-packages is measured with
``du``; ``pip install --report`` says where every package came from (a file on this machine or a
download) and the pip cache is measured before and after, so the result says how warm the cache was.
The lean venv then runs ``pocketmt translate``, ``verify`` and ``eval`` on both built-in bundles (eval on
the first lines of Multi30k's test_2016_flickr when ../shared/data is there, else on three captions),
and the output of each is recorded.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.gettempdir()) / "pocketmt-install-bench"
DATA = REPO.parent / "shared" / "data" / "multi30k"
FALLBACK = {
    "en": ["A dog runs through the snow.", "Two children play on the beach.", "A man is reading a book."],
    "de": ["Ein Hund läuft durch den Schnee.", "Zwei Kinder spielen am Strand.", "Ein Mann liest ein Buch."],
}
EVAL_LINES = 100
HEAVY = ("torch", "transformers", "executorch", "onnx", "matplotlib")


def sh(cmd: list[str] | str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=isinstance(cmd, str), check=False
    )
    return {
        "command": cmd if isinstance(cmd, str) else " ".join(cmd),
        "exit": proc.returncode,
        "seconds": round(time.monotonic() - started, 1),
        "stdout": proc.stdout.strip().splitlines()[-12:],
        "stderr": proc.stderr.strip().splitlines()[-6:],
    }


def du_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def du_human(path: Path) -> str:
    return subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()[0]


def pip_cache() -> Path:
    out = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    return Path(out.stdout.strip() or Path.home() / ".cache" / "pip")


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory_gb": round(int(mem) / 1e6, 1),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "package_sources": (
            "PyPI, plus this machine's local package indexes and wheel folder set in pip's configuration "
            "(torch 2.13.0+cpu comes from a wheel on local disk: no CUDA build is downloaded)"
        ),
        "pip_config": subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
        ).stdout.splitlines(),
    }


def install(name: str, spec: str) -> dict[str, Any]:
    venv = WORK / name
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    pip_version = subprocess.run([str(pip), "--version"], capture_output=True, text=True).stdout.split()[1]
    cache = pip_cache()
    cache_before = du_bytes(cache)
    downloads_before = du_bytes(cache / "http") + du_bytes(cache / "http-v2")  # cached downloads
    empty = du_bytes(next((venv / "lib").glob("python3*/site-packages")))
    timing, report = WORK / f"{name}.time", WORK / f"{name}.report.json"
    started = time.monotonic()
    proc = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%e %M",
            "-o",
            str(timing),
            str(pip),
            "install",
            "--quiet",
            "--report",
            str(report),
            spec,
        ],
        capture_output=True,
        text=True,
    )
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{spec}: pip install failed:\n{proc.stderr[-3000:]}")
    seconds, peak_kb = timing.read_text().split()[-2:]
    site = next((venv / "lib").glob("python3*/site-packages"))
    installed = json.loads(report.read_text())["install"]
    local = [i["metadata"]["name"] for i in installed if i["download_info"]["url"].startswith("file:")]
    return {
        "command": f"python3 -m venv {venv} && {pip} install '{spec}'",
        "pip": pip_version,
        "seconds": float(seconds),
        "seconds_wall_clock": round(wall, 1),
        "pip_peak_memory_mb": round(int(peak_kb) / 1000),
        "site_packages": du_human(site),
        "site_packages_bytes": du_bytes(site),
        "site_packages_bytes_of_an_empty_venv": empty,
        "packages": len(installed),
        "from_local_files": len(local),
        "downloaded": len(installed) - len(local),
        "largest": _largest(site, 6),
        "heavy_packages_present": [p for p in HEAVY if (site / p).is_dir()],
        "pip_cache_bytes_before": cache_before,
        "pip_cache_bytes_after": du_bytes(cache),
        "pip_download_cache_bytes_before": downloads_before,
        "pip_download_cache_bytes_after": du_bytes(cache / "http") + du_bytes(cache / "http-v2"),
        "cache": "cold: no download cached before" if downloads_before == 0 else "warm: downloads cached",
        "site": str(site),
    }


def _largest(site: Path, count: int) -> list[str]:
    sizes = sorted(((du_bytes(p), p.name) for p in site.iterdir() if p.is_dir()), reverse=True)[:count]
    return [f"{name} {size / 1e6:.0f} MB" for size, name in sizes]


def _test_set(lang_src: str, lang_ref: str) -> tuple[Path, Path, str]:
    src, ref = WORK / f"eval.{lang_src}", WORK / f"eval.{lang_ref}"
    have = (DATA / f"test_2016_flickr.{lang_src}.gz").is_file()
    for lang, path in ((lang_src, src), (lang_ref, ref)):
        if have:
            with gzip.open(DATA / f"test_2016_flickr.{lang}.gz", "rt", encoding="utf-8") as f:
                lines = [next(f).rstrip("\n") for _ in range(EVAL_LINES)]
        else:
            lines = FALLBACK[lang]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    what = f"first {EVAL_LINES} lines of Multi30k test_2016_flickr" if have else "three captions"
    return src, ref, what


def lean_runs(venv: Path) -> dict[str, Any]:
    """The lean venv's pocketmt, run outside the source tree, on both built-in bundles."""
    bin_ = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    py = str(bin_ / "python")
    models = Path(
        subprocess.run(
            [py, "-c", "import pocketmt.models as m; print(m.ROOT)"],
            capture_output=True,
            text=True,
            env=env,
            cwd=WORK,
        ).stdout.strip()
    )
    runs: dict[str, Any] = {
        "torch_importable": sh(
            [
                py,
                "-c",
                "import importlib.util as u; print([m for m in ('torch', 'transformers', 'executorch') if u.find_spec(m)])",
            ],
            cwd=WORK,
            env=env,
        )["stdout"],
        "models": str(models),
    }
    pocketmt = str(bin_ / "pocketmt")
    cases = [
        ("translate en-de", [pocketmt, "translate", "A dog runs through the snow."]),
        ("translate de-en", [pocketmt, "translate", "--pair", "de-en", "Ein Hund läuft durch den Schnee."]),
    ]
    for pair, (s, r) in {"en-de": ("en", "de"), "de-en": ("de", "en")}.items():
        bundle = str(models / pair)
        src, ref, what = _test_set(s, r)
        runs[f"eval {pair} data"] = what
        cases += [
            (f"verify {pair}", [pocketmt, "verify", bundle]),
            (f"verify {pair} --backend onnx", [pocketmt, "verify", bundle, "--backend", "onnx"]),
            (f"eval {pair}", [pocketmt, "eval", "--bundle", bundle, "--src", str(src), "--ref", str(ref)]),
            (f"info {pair}", [pocketmt, "info", bundle]),
        ]
    cases.append(
        ("export (needs the extra)", [pocketmt, "export", str(models / "en-de"), "-o", str(WORK / "out")])
    )
    for label, cmd in cases:
        result = sh(cmd, cwd=WORK, env=env)
        if label.startswith("info"):
            result["stdout"] = result["stdout"][:3]
        runs[label] = result
    return runs


def fresh_clone(source: Path, name: str) -> Path:
    clone = WORK / name
    shutil.rmtree(clone, ignore_errors=True)
    subprocess.run(["git", "clone", "--quiet", str(source), str(clone)], check=True)
    return clone


def readme_first_command(source: Path) -> dict[str, Any]:
    """The README's first command, exactly as written, in a fresh clone of the committed tree."""
    clone = fresh_clone(source, "clone")
    readme = (clone / "README.md").read_text("utf-8")
    block = readme.split("## Set up", 1)[1].split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    result = sh(["/usr/bin/time", "-f", "%e", "bash", "-c", f"set -e; {block}"], cwd=clone)
    result["command"] = block
    result["commit"] = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
    ).stdout.strip()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=REPO, help="the pocketmt source folder to install")
    parser.add_argument(
        "--readme", action="store_true", help="also run the README's first command in a clone"
    )
    parser.add_argument("-o", "--output", type=Path, default=REPO / "benchmarks" / "results" / "install.json")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    src = fresh_clone(args.source, "src")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=src, capture_output=True, text=True)
    result: dict[str, Any] = {
        "machine": machine(),
        "source": f"{args.source} at {commit.stdout.strip()}, cloned to {src}",
    }
    result["lean"] = install("lean", str(src))
    result["export"] = install("export", f"{src}[export]")
    result["lean_runs"] = lean_runs(WORK / "lean")
    if args.readme:
        result["readme_first_command"] = readme_first_command(args.source)
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for name in ("lean", "export"):
        r = result[name]
        print(
            f"{name}: {r['seconds']:.0f} s, site-packages {r['site_packages']} ({r['packages']} packages, "
            f"{r['downloaded']} downloaded), pip cache {r['pip_cache_bytes_before'] / 1e6:.0f} MB before"
        )
    print(f"written: {args.output}")


if __name__ == "__main__":
    main()
