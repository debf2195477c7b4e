"""nnU-Net environment variables: what nnunetv2_cta needs set and the shell lines that set it.

Import-light (standard library only): used by ``nnunetv2_cta env`` and checked by every command that talks to
nnU-Net, so a missing folder is reported in one line before any work starts (nnU-Net 2.8 reads the variables
from ``os.environ`` each time it needs them).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from nnunetv2_cta.errors import ConfigurationError

NNUNET_PATH_VARIABLES: tuple[str, ...] = ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results")


def ext_trainer_dir() -> Path:
    """The folder inside the installed package that ``nnUNet_extTrainer`` must list."""
    return Path(__file__).resolve().parent / "nnunet_ext"


def ext_trainer_value(current: str | None = None) -> str:
    """``nnUNet_extTrainer`` value with our folder first; other folders already listed are kept, ours once."""
    ours = str(ext_trainer_dir())
    current = os.environ.get("nnUNet_extTrainer", "") if current is None else current
    others = [p for p in current.split(os.pathsep) if p.strip() and os.path.abspath(p) != ours]
    return os.pathsep.join([ours, *others])


def shell_exports(environ: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Lines for ``eval "$(nnunetv2_cta env)"`` and warnings for unset nnU-Net folders.

    Returns:
        ``(exports, warnings)``: bash ``export`` lines (values shell-quoted) and one warning sentence per
        unset or empty variable of :data:`NNUNET_PATH_VARIABLES`.
    """
    environ = dict(os.environ if environ is None else environ)
    exports = [
        f"export nnUNet_extTrainer={shlex.quote(ext_trainer_value(environ.get('nnUNet_extTrainer', '')))}"
    ]
    warnings = [
        f"{var} is not set: nnU-Net needs it (e.g. export {var}=/data/nnunet/{var.split('_', 1)[1]})"
        for var in NNUNET_PATH_VARIABLES
        if not environ.get(var, "").strip()
    ]
    return exports, warnings


def require_nnunet_paths(*names: str) -> dict[str, Path]:
    """Return the named nnU-Net folders, raising one clear error if any is unset or missing on disk."""
    unset = [n for n in names if not os.environ.get(n, "").strip()]
    if unset:
        raise ConfigurationError(
            f"environment variable(s) {', '.join(unset)} not set; nnU-Net needs them "
            f"(export {unset[0]}=/path/to/folder, then see 'nnunetv2_cta env')"
        )
    paths = {n: Path(os.environ[n]) for n in names}
    missing = [f"{n}={p}" for n, p in paths.items() if not p.is_dir()]
    if missing:
        raise ConfigurationError(f"nnU-Net folder(s) do not exist: {', '.join(missing)}")
    return paths


def ensure_ext_trainer_in_environ() -> None:
    """Put our folder into ``os.environ['nnUNet_extTrainer']`` (for in-process nnU-Net calls and subprocesses)."""
    os.environ["nnUNet_extTrainer"] = ext_trainer_value()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is often empty or just ``x86_64``)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
