"""A private Docker engine for tests, and the images the Docker test builds on it.

Nothing here relies on a system daemon or a registry: dockerd gets its own data-root, exec-root,
pidfile and socket in a scratch directory, no bridge and no iptables (containers share the host's
network, so all traffic stays on 127.0.0.1); the base image is Debian bookworm made with debootstrap
from the mirror this machine's apt uses; and whatever the engine made is unmounted and deleted
when it stops.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

from tests.support.paths import ROOT  # the repo: Dockerfile, pyproject.toml and the packages to wheel

PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap"}  # command -> the Debian package with it
STORAGE_DRIVERS = ("overlay2", "vfs")  # overlay2 shares layers; vfs copies them but works on any filesystem
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BOOKWORM_PYTHON = (3, 11)  # the python3 debootstrap installs
DEBIAN_PYTHON = Path("/usr/bin/python3")  # the same Debian python3 on the host makes the wheelhouse
SCRATCH_BYTES = 6 * 2**30  # base tree, image layers and build stages, with room to spare


class EngineUnavailable(Exception):
    """No Docker engine can run here; the message says what stopped it."""


def install_missing_packages() -> None:
    """apt-get install docker.io and debootstrap if their commands are missing (CI starts bare, as root)."""
    missing = sorted({package for command, package in PACKAGES.items() if not shutil.which(command)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise EngineUnavailable(f"{', '.join(missing)} missing and installing needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


def debian_mirror(apt_dir: Path = Path("/etc/apt")) -> str:
    """The URI this machine's apt uses for the plain `bookworm` suite (deb822 or one-line sources)."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, flags=re.MULTILINE))
                if "bookworm" in fields.get("Suites", "").split() and fields.get("URIs"):
                    return fields["URIs"].split()[0]
        else:
            for line in text.splitlines():
                match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", line)
                if match:
                    return match.group(1)
    return DEFAULT_MIRROR


def scratch_dir(prefix: str) -> Path:
    """A temp dir in /dev/shm when it has room: dpkg and image layers fsync every file, 3x slower on disk."""
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and shutil.disk_usage(shm).free > SCRATCH_BYTES else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def unmount_under(path: Path) -> None:
    """Lazily unmount everything below path (dockerd leaves netns and overlay mounts if it dies)."""
    prefix = str(path.resolve())
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for mount_point in sorted((m for m in mounts if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], capture_output=True)


def _docker_client() -> str:
    """Debian's client, which matches its dockerd; another docker on PATH may speak a newer API."""
    client = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
    if not client:
        raise EngineUnavailable("the docker client is missing")
    return client


class DockerEngine:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "docker.sock"
        self.log_path = root / "dockerd.log"  # set per storage driver tried: a reason names only its own errors
        self.process: subprocess.Popen | None = None
        self.storage_driver: str | None = None
        self.env = {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CONFIG": str(root / "client"),
        }  # not ~/.docker: no credential helpers, no contexts

    def start(self) -> DockerEngine:
        """The first storage driver dockerd accepts and that can run a container; else EngineUnavailable."""
        if not shutil.which("dockerd"):
            raise EngineUnavailable("dockerd is not installed")
        reasons = []
        for driver in STORAGE_DRIVERS:
            try:
                self._start_daemon(driver)
                self._run_probe_container()
                self.storage_driver = driver
                return self
            except EngineUnavailable as refused:
                reasons.append(f"{driver}: {refused}")
                self._stop_daemon()
        raise EngineUnavailable("; ".join(reasons))

    def docker(self, *args: str, stdin: bytes | None = None, timeout: float = 600) -> str:
        result = subprocess.run(
            [_docker_client(), *args], env=self.env, input=stdin, capture_output=True, timeout=timeout
        )
        if result.returncode != 0:  # a build's step output goes to stdout, the step's failure to stderr
            output = (result.stdout[-4000:] + result.stderr[-2000:]).decode(errors="replace")
            raise RuntimeError(f"docker {' '.join(args[:3])} failed: {output}")
        return result.stdout.decode(errors="replace").strip()

    def stop(self) -> None:
        """Remove every container, stop dockerd, unmount and delete everything it made."""
        if self.process is not None and self.process.poll() is None:
            try:
                containers = self.docker("ps", "-aq", timeout=30).split()
                if containers:
                    self.docker("rm", "-f", "-v", *containers, timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass  # the daemon's own shutdown stops them too
        self._stop_daemon()
        unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)

    def _start_daemon(self, driver: str) -> None:
        state = self.root / driver
        self.log_path = self.root / f"dockerd-{driver}.log"
        command = [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            f"--storage-driver={driver}",
            f"--data-root={state / 'data'}",
            f"--exec-root={state / 'exec'}",
            f"--pidfile={state / 'dockerd.pid'}",
            f"--host=unix://{self.socket}",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EngineUnavailable(self._daemon_complaint())
            if (
                self.socket.exists()
                and subprocess.run([_docker_client(), "version"], env=self.env, capture_output=True).returncode == 0
            ):
                return
            time.sleep(0.3)
        raise EngineUnavailable(f"dockerd did not answer in 60 s: {self._daemon_complaint()}")

    def _run_probe_container(self) -> None:
        """Create and run one tiny container, so cgroup or mount refusals show before an hour of building."""
        init = Path("/usr/bin/docker-init").resolve()  # tini, statically linked, shipped with docker.io
        if not init.is_file():
            return
        probe_tar = self.root / "probe.tar"
        with tarfile.open(probe_tar, "w") as archive:
            archive.add(init, arcname="init")
        try:
            self.docker("import", str(probe_tar), "assay-probe:latest", timeout=60)
            self.docker("run", "--rm", "--network", "host", "assay-probe:latest", "/init", "--version", timeout=60)
            self.docker("rmi", "assay-probe:latest", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired) as refused:
            raise EngineUnavailable(f"a container cannot run: {refused}") from None
        finally:
            probe_tar.unlink(missing_ok=True)

    def _stop_daemon(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        self._kill_orphaned_containerd()

    def _kill_orphaned_containerd(self) -> None:
        """dockerd stops the containerd it started, unless it was killed; then its pidfile names it."""
        for pidfile in self.root.glob("*/exec/containerd/containerd.pid"):
            try:
                pid = int(pidfile.read_text().strip())
                if str(self.root) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    os.kill(pid, signal.SIGKILL)
            except (ValueError, OSError):
                pass

    def _daemon_complaint(self) -> str:
        """The daemon's last error lines: the reason a skip reports."""
        lines = self.log_path.read_text(errors="replace").splitlines() if self.log_path.exists() else []
        errors = [line for line in lines if re.search(r"level=(error|fatal)|failed to start", line)]
        return " | ".join((errors or lines)[-3:])[-1500:] or "no output"


def build_base_image(engine: DockerEngine, tag: str, workdir: Path) -> None:
    """Debian bookworm with python3 (minbase: only what python3 needs), imported into the engine as `tag`."""
    rootfs = workdir / "rootfs"
    command = ["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(rootfs), debian_mirror()]
    try:
        result = subprocess.run(command, capture_output=True, timeout=900)
        if result.returncode != 0:
            raise RuntimeError(
                f"debootstrap failed: {(result.stdout + result.stderr).decode(errors='replace')[-3000:]}"
            )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):  # downloaded .debs and indexes: not for the image
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [_docker_client(), "import", "-", tag], env=engine.env, stdin=tar.stdout, capture_output=True, timeout=600
        )
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr.decode(errors='replace')}")
    finally:
        unmount_under(rootfs)  # debootstrap mounts /proc and /sys inside while it runs
        shutil.rmtree(rootfs, ignore_errors=True)


def check_host_python() -> None:
    """pip resolves for the interpreter that runs it (markers such as `python_full_version < "3.11.3"`
    decide what redis needs), so the wheelhouse is made by Debian's python3 on this machine: the image's."""
    if not DEBIAN_PYTHON.exists():
        raise EngineUnavailable(f"{DEBIAN_PYTHON} (Debian's python3, the image's) is missing")
    version = subprocess.run(
        [str(DEBIAN_PYTHON), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    if version != str(BOOKWORM_PYTHON):
        raise EngineUnavailable(
            f"{DEBIAN_PYTHON} is {version}, not bookworm's {BOOKWORM_PYTHON}: its wheels would not fit"
        )


def build_wheelhouse(dest: Path) -> None:
    """`pip wheel` of Assay (from a copy: building in place leaves build/ in the tree) and its dependencies, run
    by Debian's python3 from a pip wheel (it has no pip of its own), which goes into the wheelhouse too."""
    check_host_python()
    source = dest.parent / "source"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    source.mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", source / "pyproject.toml")
    for package in packages:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        _pip([sys.executable, "-m", "pip", "download", "--no-deps", "--dest", str(dest), "pip"])
        pip = next(dest.glob("pip-*.whl")) / "pip"
        _pip([str(DEBIAN_PYTHON), str(pip), "wheel", "--wheel-dir", str(dest), str(source)])
    finally:
        shutil.rmtree(source, ignore_errors=True)


def _pip(command: list[str]) -> None:
    result = subprocess.run([*command, "--quiet", "--disable-pip-version-check"], capture_output=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed: {result.stderr.decode(errors='replace')[-3000:]}")
